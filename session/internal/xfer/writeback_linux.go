package xfer

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback starts writing the n bytes of f at off to the disk and
// returns without waiting (sync_file_range(2) with
// SYNC_FILE_RANGE_WRITE), so that the fsync before the rename finds
// them written or under way. It is only a hint: an error is ignored,
// and durability still comes from that fsync.
func startWriteback(f *os.File, off, n uint64) {
	if n > 0 {
		_ = unix.SyncFileRange(int(f.Fd()), int64(off), int64(n), unix.SYNC_FILE_RANGE_WRITE)
	}
}

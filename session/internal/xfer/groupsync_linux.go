package xfer

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// haveSyncFS says GroupSync syncs file systems whole (syncfs(2), Linux
// 2.6.39; it reports writeback errors since Linux 5.8).
const haveSyncFS = true

// syncGroup syncs the file system of every file of batch once, and tells
// each file the result for its file system. A file whose device cannot
// be told is synced alone.
func syncGroup(batch []*syncWaiter) {
	type fsGroup struct {
		fd    uintptr
		first *syncWaiter
		err   error
	}
	byDev := map[uint64]*fsGroup{}
	devs := make([]uint64, len(batch))
	for i, w := range batch {
		var st syscall.Stat_t
		if err := syscall.Fstat(int(w.f.Fd()), &st); err != nil {
			w.done <- w.f.Sync()
			batch[i] = nil
			continue
		}
		devs[i] = uint64(st.Dev)
		if byDev[devs[i]] == nil {
			byDev[devs[i]] = &fsGroup{fd: w.f.Fd(), first: w}
		}
	}
	for _, g := range byDev {
		if err := unix.Syncfs(int(g.fd)); err != nil {
			g.err = &os.PathError{Op: "syncfs", Path: g.first.f.Name(), Err: err}
		}
	}
	for i, w := range batch {
		if w != nil {
			w.done <- byDev[devs[i]].err
		}
	}
}

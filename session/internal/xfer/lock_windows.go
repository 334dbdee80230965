package xfer

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

const isWindows = true

// lockOffset is the byte LockFileEx locks: far past any file's end, so
// the lock (mandatory on Windows) never stands in the way of reading or
// writing the file's bytes, and only excludes other lockers.
const lockOffset = 1 << 62

// lockFile takes an exclusive LockFileEx lock on one byte of f, failing
// at once if another handle holds it. It lasts until f is closed.
func lockFile(f *os.File) error {
	ol := &windows.Overlapped{Offset: uint32(lockOffset & 0xffffffff), OffsetHigh: uint32(lockOffset >> 32)}
	err := windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, ol)
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		return errLocked
	}
	return err
}

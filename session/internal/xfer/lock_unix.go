//go:build unix

package xfer

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

const isWindows = false

// lockFile takes flock(LOCK_EX|LOCK_NB) on f: bound to the open file, so
// it lasts until f is closed and no other descriptor of the process can
// drop it (unlike fcntl locks).
func lockFile(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) {
		for {
			lerr = unix.Flock(int(fd), unix.LOCK_EX|unix.LOCK_NB)
			if !errors.Is(lerr, unix.EINTR) {
				return
			}
		}
	}); err != nil {
		return err
	}
	if errors.Is(lerr, unix.EWOULDBLOCK) {
		return errLocked
	}
	return lerr
}

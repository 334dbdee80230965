package xfer

import (
	"errors"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// noOpenat2 is set once openat2 has been refused as unknown (ENOSYS:
// Linux before 5.6) or forbidden (EPERM: a seccomp filter), so that
// renamePart stops trying it.
var noOpenat2 atomic.Bool

// renameBeneath renames from to to (names, no slash) in directory dir (a
// clean path, "." for top itself) of the tree whose root top is open:
// dir is resolved with openat2 and RESOLVE_BENEATH, so no component of
// it may lead out of top (EXDEV), nor be a magic link.
func renameBeneath(top *os.File, dir, from, to string) error {
	if noOpenat2.Load() {
		return errNoBeneath
	}
	conn, err := top.SyscallConn()
	if err != nil {
		return err
	}
	var rerr error
	if err := conn.Control(func(fd uintptr) {
		dfd := int(fd)
		if dir != "." {
			how := unix.OpenHow{
				Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
				Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
			}
			d, err := unix.Openat2(dfd, dir, &how)
			if err != nil {
				if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
					noOpenat2.Store(true)
				}
				rerr = err
				return
			}
			defer unix.Close(d)
			dfd = d
		}
		rerr = unix.Renameat(dfd, from, dfd, to)
	}); err != nil {
		return err
	}
	return rerr
}

//go:build unix

package xfer

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// openNonblock makes an open return at once where it could wait (a FIFO
// without a writer); it does nothing to regular files.
const openNonblock = syscall.O_NONBLOCK

// createExcl creates name (a name, no slash) for reading and writing,
// mode 0600, failing if it exists (fs.ErrExist), in the directory d
// holds: one openat on d's descriptor. os.Root's OpenFile would also try
// to register the regular file with the runtime's poller, which refuses
// it: four fcntl and an epoll_ctl per file, a tenth of the receiver's
// system calls on a tree of small files (issue 17). Without d or its
// descriptor, root.OpenFile. display names the file in errors and
// f.Name().
func createExcl(d *Dir, root *os.Root, name, display string) (*os.File, error) {
	if d == nil || d.fd == nil {
		return root.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	}
	conn, err := d.fd.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd, oerr := -1, error(nil)
	if err := conn.Control(func(dfd uintptr) {
		for {
			fd, oerr = unix.Openat(int(dfd), name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
			if oerr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return nil, err
	}
	if oerr != nil {
		return nil, &os.PathError{Op: "openat", Path: display, Err: oerr}
	}
	return os.NewFile(uintptr(fd), display), nil
}

package xfer

import (
	"errors"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// noOpenat2 is set once openat2 has been refused as unknown (ENOSYS:
// Linux before 5.6) or forbidden (EPERM: a seccomp filter), so that
// renamePart and OpenSourceIn stop trying it.
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

// errNotRegular says an O_PATH descriptor is not a regular file
// (openSourceBeneath); OpenSource then says what it is.
var errNotRegular = errors.New("not a regular file")

// openSourceBeneath opens p (a clean path under the tree whose root top
// is open) for reading, resolved with openat2 and RESOLVE_BENEATH: first
// as an O_PATH descriptor (opening nothing) whose fstat must say regular
// file, then for reading, O_NONBLOCK, so that a FIFO put in its place
// meanwhile does not wait for a writer.
func openSourceBeneath(top *os.File, p string) (*os.File, error) {
	if noOpenat2.Load() {
		return nil, errNoBeneath
	}
	conn, err := top.SyscallConn()
	if err != nil {
		return nil, err
	}
	var f *os.File
	var rerr error
	if err := conn.Control(func(fd uintptr) {
		how := unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
		}
		pfd, err := unix.Openat2(int(fd), p, &how)
		if err != nil {
			if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
				noOpenat2.Store(true)
			}
			rerr = err
			return
		}
		var st unix.Stat_t
		err = unix.Fstat(pfd, &st)
		unix.Close(pfd)
		if err == nil && st.Mode&unix.S_IFMT != unix.S_IFREG {
			err = errNotRegular
		}
		if err != nil {
			rerr = err
			return
		}
		how.Flags = unix.O_RDONLY | unix.O_NONBLOCK | unix.O_CLOEXEC
		rfd, err := unix.Openat2(int(fd), p, &how)
		if err != nil {
			rerr = err
			return
		}
		f = os.NewFile(uintptr(rfd), p)
	}); err != nil {
		return nil, err
	}
	return f, rerr
}

// dirWithoutLinks reports whether p (a clean path under the tree whose
// root top is open) is a directory found by openat2 with RESOLVE_BENEATH
// and RESOLVE_NO_SYMLINKS: no component of p is a symbolic link. False
// for anything else (a link on the way: ELOOP; not a directory; no
// openat2).
func dirWithoutLinks(top *os.File, p string) bool {
	if noOpenat2.Load() {
		return false
	}
	conn, err := top.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	conn.Control(func(fd uintptr) {
		how := unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS,
		}
		d, err := unix.Openat2(int(fd), p, &how)
		if err != nil {
			if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
				noOpenat2.Store(true)
			}
			return
		}
		unix.Close(d)
		ok = true
	})
	return ok
}

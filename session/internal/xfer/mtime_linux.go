package xfer

import (
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mtimeSetOnOpen says setFileMTime sets an mtime through the open file,
// so a receiver sets it before the rename with no path to resolve.
const mtimeSetOnOpen = true

// setWideMTime sets an mtime beyond what UnixNano holds: utimensat on the
// open file (a NULL path names the descriptor itself), from seconds and
// nanoseconds.
func setWideMTime(root *os.Root, name string, t time.Time) error {
	f, err := root.OpenFile(name, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return setFileMTime(f, t)
}

// setFileMTime sets the modification time of the open file f to t
// exactly, whatever the year, and its access time to now: futimens,
// which is utimensat on the descriptor with a NULL path.
func setFileMTime(f *os.File, t time.Time) error {
	ts := [2]unix.Timespec{{Nsec: unix.UTIME_NOW}, {Sec: t.Unix(), Nsec: int64(t.Nanosecond())}}
	conn, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := conn.Control(func(fd uintptr) {
		_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, fd, 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
		if e != 0 {
			serr = e
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "futimens", Path: f.Name(), Err: serr}
	}
	return nil
}

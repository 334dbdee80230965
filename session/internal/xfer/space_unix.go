//go:build unix

package xfer

import (
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// FreeSpace returns the bytes an unprivileged user may still write on the
// file system holding root (statfs f_bavail × f_bsize).
func FreeSpace(root *os.Root) (uint64, error) {
	d, err := root.Open(".")
	if err != nil {
		return 0, err
	}
	defer d.Close()
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(d.Fd()), &st); err != nil {
		return 0, &os.PathError{Op: "statfs", Path: ".", Err: err}
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}

// allocated returns the bytes fi's file holds on disk (st_blocks × 512),
// less than its size when sparse.
func allocated(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Blocks) * 512
	}
	return uint64(max(fi.Size(), 0))
}

// freeSpaceOf is FreeSpace of the file system holding dir, an open
// directory, or of root's when dir is nil.
func freeSpaceOf(root *os.Root, dir *os.File) (uint64, error) {
	if dir == nil {
		return FreeSpace(root)
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(dir.Fd()), &st); err != nil {
		return 0, &os.PathError{Op: "statfs", Path: dir.Name(), Err: err}
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}

//go:build unix

package xfer

import (
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// StatFS describes the file system holding p, opened through root so
// that the path checks of os.Root apply (fstatfs(2)). Block counts are
// in blockSize units: f_frsize on Linux, as statvfs(3) says, f_bsize
// elsewhere.
func StatFS(root *os.Root, p string) (FSUsage, error) {
	f, err := root.Open(p)
	if err != nil {
		return FSUsage{}, err
	}
	defer f.Close()
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		return FSUsage{}, &os.PathError{Op: "statfs", Path: p, Err: err}
	}
	bs := blockSize(&st)
	return FSUsage{
		Total: uint64(st.Blocks) * bs, Free: uint64(st.Bfree) * bs, Avail: uint64(st.Bavail) * bs,
		Files: uint64(st.Files), FilesFree: uint64(st.Ffree),
	}, nil
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

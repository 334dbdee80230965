package xfer

import (
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

// StatFS describes the volume holding p (GetDiskFreeSpaceEx). That call
// takes a name, not a handle: p is first checked through root (os.Root
// refuses a path leading out of it), then named under root.Name().
// Windows does not count inodes: Files and FilesFree are 0.
func StatFS(root *os.Root, p string) (FSUsage, error) {
	if _, err := root.Stat(p); err != nil {
		return FSUsage{}, err
	}
	name, err := windows.UTF16PtrFromString(filepath.Join(root.Name(), filepath.FromSlash(p)))
	if err != nil {
		return FSUsage{}, &os.PathError{Op: "statfs", Path: p, Err: err}
	}
	var u FSUsage
	if err := windows.GetDiskFreeSpaceEx(name, &u.Avail, &u.Total, &u.Free); err != nil {
		return FSUsage{}, &os.PathError{Op: "GetDiskFreeSpaceEx", Path: p, Err: err}
	}
	return u, nil
}

// allocated returns fi's size: a file extended with SetEndOfFile holds its
// clusters.
func allocated(fi fs.FileInfo) uint64 { return uint64(max(fi.Size(), 0)) }

// freeSpaceOf is FreeSpace of the volume holding root (dir is not used:
// no directory handle is kept here).
func freeSpaceOf(root *os.Root, _ *os.File) (uint64, error) { return FreeSpace(root) }

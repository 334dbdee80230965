package session

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// statFS describes the volume holding p. GetDiskFreeSpaceEx takes a name,
// not a handle: p is first checked through root (os.Root refuses a path
// leading out of it), then named under dir, the root's directory.
// Windows does not count inodes: Files and FilesFree are 0.
func statFS(root *os.Root, dir string, p string) (*wire.DfResult, error) {
	if _, err := root.Stat(p); err != nil {
		return nil, err
	}
	name, err := windows.UTF16PtrFromString(filepath.Join(dir, filepath.FromSlash(p)))
	if err != nil {
		return nil, &os.PathError{Op: "statfs", Path: p, Err: err}
	}
	var avail, total, free uint64
	if err := windows.GetDiskFreeSpaceEx(name, &avail, &total, &free); err != nil {
		return nil, &os.PathError{Op: "statfs", Path: p, Err: err}
	}
	return &wire.DfResult{Total: total, Free: free, Avail: avail}, nil
}

package xfer

import (
	"io/fs"
	"os"

	"golang.org/x/sys/windows"
)

// FreeSpace returns the bytes the user may still write on the volume
// holding root (GetDiskFreeSpaceEx).
func FreeSpace(root *os.Root) (uint64, error) {
	p, err := windows.UTF16PtrFromString(root.Name())
	if err != nil {
		return 0, err
	}
	var free uint64
	if err := windows.GetDiskFreeSpaceEx(p, &free, nil, nil); err != nil {
		return 0, &os.PathError{Op: "GetDiskFreeSpaceEx", Path: root.Name(), Err: err}
	}
	return free, nil
}

// allocated returns fi's size: a file extended with SetEndOfFile holds its
// clusters.
func allocated(fi fs.FileInfo) uint64 { return uint64(max(fi.Size(), 0)) }

// freeSpaceOf is FreeSpace of the volume holding root (dir is not used:
// no directory handle is kept here).
func freeSpaceOf(root *os.Root, _ *os.File) (uint64, error) { return FreeSpace(root) }

package xfer

import "os"

// FSUsage describes a file system as statvfs(3) does. Sizes are in bytes.
type FSUsage struct {
	Total uint64 // size of the file system
	Free  uint64 // free bytes
	Avail uint64 // bytes an unprivileged user may still write (Free less the root reserve)
	// Files and FilesFree count inodes; both are 0 where the system does
	// not say (Windows).
	Files     uint64
	FilesFree uint64
}

// FreeSpace returns the bytes an unprivileged user may still write on the
// file system holding root: StatFS's Avail.
func FreeSpace(root *os.Root) (uint64, error) {
	u, err := StatFS(root, ".")
	return u.Avail, err
}

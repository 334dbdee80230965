//go:build !unix

package xfer

import "os"

// openNonblock is 0 where opens do not block on special files.
const openNonblock = 0

// createExcl creates name for reading and writing, mode 0600, failing if
// it exists (fs.ErrExist), in root (d is only used on Unix).
func createExcl(d *Dir, root *os.Root, name, display string) (*os.File, error) {
	return root.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
}

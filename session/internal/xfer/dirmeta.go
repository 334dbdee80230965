package xfer

import (
	"io/fs"
	"os"
	"time"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// SetDirMeta gives the directory dir under root the permission bits mode
// and the modification time mtime, as rsync -a keeps them; the caller
// does it once the directory's contents are written, deepest directory
// first (writing an entry changes a directory's mtime, and a directory
// without write or search permission could not take its children's
// files). Anything but a directory (a symlink to one included: it is
// not followed) fails with wire.NotDirectory. Errors are *Error.
func SetDirMeta(root *os.Root, dir string, mode fs.FileMode, mtime time.Time) error {
	fi, err := root.Lstat(dir)
	if err != nil {
		return AsError(err, dir)
	}
	if !fi.IsDir() {
		return Errorf(wire.NotDirectory, dir, "not a directory")
	}
	if err := root.Chmod(dir, mode.Perm()); err != nil {
		return AsError(err, dir)
	}
	if err := SetMTime(root, dir, mtime); err != nil {
		return AsError(err, dir)
	}
	return nil
}

package session

import (
	"io/fs"

	"github.com/qxfer/qxfer/session/internal/xfer"
)

// Links says what a push or pull does with the symbolic links it meets
// inside a directory tree. One policy for both directions (issue 13, class
// 10); a link named on the command line is always followed, as cp -H and
// scp do.
type Links uint8

const (
	// LinksDefault follows links to regular files (the file's content
	// is sent under the link's name, as scp does) and skips links to
	// directories with a notice, as rsync without -l skips links. The
	// zero value.
	LinksDefault Links = iota
	// LinksFollow (-L/--copy-links) follows every link, into linked
	// directories too. A link to a directory that holds it (x -> .) is a
	// loop: it fails with CodeSymlinkLoop and is not descended into, so
	// a tree is never copied into itself.
	LinksFollow
)

// notRegular refuses a local object that is not a regular file with
// CodeNotRegular, naming what it is; a directory is named by the caller.
func notRegular(fi fs.FileInfo, display string) error {
	m := fi.Mode()
	switch {
	case m.IsDir():
		return xfer.Errorf(CodeNotRegular, display, "a directory")
	case m&fs.ModeNamedPipe != 0:
		return xfer.Errorf(CodeNotRegular, display, "a named pipe (FIFO)")
	case m&fs.ModeSocket != 0:
		return xfer.Errorf(CodeNotRegular, display, "a socket")
	case m&fs.ModeDevice != 0:
		return xfer.Errorf(CodeNotRegular, display, "a device")
	case m&fs.ModeSymlink != 0:
		return xfer.Errorf(CodeNotRegular, display, "a symlink")
	}
	return xfer.Errorf(CodeNotRegular, display, "%s", m.Type())
}

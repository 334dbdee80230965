package session

import (
	"io/fs"

	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// dirMeta sets the mode and mtime of a directory of a pushed tree, once
// its files are written (see wire.DirMeta). The served root itself is
// left alone: it is the server's, not part of any tree.
func (ss *serverSession) dirMeta(m *wire.DirMeta) error {
	p, err := ss.allow(opMkdir, m.Path)
	if err != nil {
		return err
	}
	if p == "." {
		return xfer.Errorf(CodeInvalidPath, p, "the served root keeps its own mode and mtime")
	}
	if err := xfer.SetDirMeta(ss.root, p, fs.FileMode(m.Mode).Perm(), m.MTime); err != nil {
		return err
	}
	return ss.cmd.send(&wire.OK{ID: m.ID})
}

package session

import (
	"io/fs"

	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// symlink handles a Symlink (push -l): the link is made by placeLink's
// rules, and an identical link already there is answered
// Reject{UpToDate}, as a file would be.
func (ss *serverSession) symlink(m *wire.Symlink) error {
	p, err := ss.allow(opWrite, m.Path)
	if err != nil {
		return err
	}
	if err := placeLink(ss.root, p, m.Target, m.Flags&wire.FlagForce != 0); err != nil {
		return err
	}
	return ss.cmd.send(&wire.OK{ID: m.ID})
}

// readlink handles a Readlink (pull -l). A target that is absolute or
// leads out of the root is not told: it would show the server's own
// paths.
func (ss *serverSession) readlink(m *wire.Readlink) error {
	p, err := ss.allow(opRead, m.Path)
	if err != nil {
		return err
	}
	fi, err := ss.root.Lstat(p)
	if err != nil {
		return xfer.AsError(err, p)
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		return xfer.Errorf(CodeNotRegular, p, "not a symlink")
	}
	t, err := ss.root.Readlink(p)
	if err != nil {
		return xfer.AsError(err, p)
	}
	if checkLinkTarget(p, t) != nil {
		return xfer.Errorf(CodeInvalidPath, p, "a symlink that is absolute or leads out of the served tree (its target is not told)")
	}
	return ss.cmd.send(&wire.LinkTarget{ID: m.ID, Target: t})
}

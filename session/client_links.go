package session

import (
	"context"
	"os"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// Symlink makes the remote path p a symbolic link to target (push -l). An
// identical link already there is an *Error with CodeUpToDate.
func (c *clientConn) Symlink(ctx context.Context, p, target string, force bool) error {
	_, err := roundTrip[*wire.OK](ctx, c, p, func(id uint64) wire.Message {
		return &wire.Symlink{ID: id, Path: p, Target: target, Flags: transferFlags(force, false)}
	})
	return err
}

// Readlink returns the target of the remote symbolic link p (pull -l).
func (c *clientConn) Readlink(ctx context.Context, p string) (string, error) {
	m, err := roundTrip[*wire.LinkTarget](ctx, c, p, func(id uint64) wire.Message { return &wire.Readlink{ID: id, Path: p} })
	if err != nil {
		return "", err
	}
	return m.Target, nil
}

// pushLinkJob copies the local link local (to target) as the remote link
// remote.
func (c *clientConn) pushLinkJob(local, remote, target string, opts Options) *job {
	t := newTransfer(c.newJobID(), Push, remote, local, 0, nil)
	j := &job{t: t, key: remote, src: local, small: true, link: true, target: target}
	if err := checkWireName(local, remote); err != nil {
		j.preErr = err
	}
	j.run = func(ctx context.Context, c *clientConn, t *Transfer, _ *slot) error {
		t.setRunning()
		return c.Symlink(ctx, remote, target, opts.Force)
	}
	return j
}

// pullLinkJob copies the remote link remote as the local link local
// under root. The target is checked here too: a server cannot plant a
// link leading out of the destination tree.
func (c *clientConn) pullLinkJob(root *os.Root, remote, local string, opts Options) *job {
	t := newTransfer(c.newJobID(), Pull, remote, local, 0, nil)
	j := &job{t: t, key: localKey(root, local), src: remote, small: true, link: true}
	j.run = func(ctx context.Context, c *clientConn, t *Transfer, _ *slot) error {
		t.setRunning()
		target, err := c.Readlink(ctx, remote)
		if err != nil {
			return err
		}
		return placeLink(root, local, target, opts.Force)
	}
	return j
}

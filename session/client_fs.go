package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// ErrUnsupported is the error of a request the server does not know
// (a server of an older qxfer): errors.Is(err, ErrUnsupported).
var ErrUnsupported = errors.New("the server does not support this request (it runs an older qxfer)")

// DiskUsage describes the file system holding a remote path, as
// statvfs(3) does. Sizes are in bytes.
type DiskUsage struct {
	Total uint64 // size of the file system
	Free  uint64 // free bytes
	Avail uint64 // bytes the server may still write (Free less any reserve)
	// Files and FilesFree count inodes; both are 0 when the server's file
	// system does not say (Windows).
	Files     uint64
	FilesFree uint64
}

// fenced sends the request build makes and waits for its answer, for
// request kinds that protocol v2 added after its first release (Remove,
// Rename, Df, Features): a server that predates them skips the frame and
// would never answer. Right behind it goes a Stat of the root, a fence:
// the server handles these requests in its command loop and answers them
// before it reads the next frame, so the fence's answer arriving first
// means the request was skipped, and the result is ErrUnsupported. The
// answer is a T or a Reject (the server's verdict, naming path p).
func fenced[T wire.Message](ctx context.Context, c *clientConn, p string, build func(id uint64) wire.Message) (T, error) {
	q, err := askFenced(c, build)
	if err != nil {
		var zero T
		return zero, err
	}
	return answerFenced[T](ctx, c, q, p)
}

// fencedQuestion is a fenced request and its fence, sent and not yet
// answered: asked ahead of its answer being needed (askFeatures), it
// costs no round trip of its own.
type fencedQuestion struct {
	id, fid uint64
	w, fw   *waiter
}

// askFenced sends the request build makes and its fence (see fenced)
// without waiting; answerFenced collects the answer. err is the
// session's failure.
func askFenced(c *clientConn, build func(id uint64) wire.Message) (*fencedQuestion, error) {
	id, w, err := c.request(build)
	if err != nil {
		return nil, err
	}
	fid, fw, err := c.request(func(id uint64) wire.Message { return &wire.Stat{ID: id, Path: "."} })
	if err != nil {
		c.done(id, w)
		return nil, err
	}
	return &fencedQuestion{id: id, fid: fid, w: w, fw: fw}, nil
}

// answerFenced waits for the answer to q, a question about path p (see
// fenced), and lets both of its waiters go.
func answerFenced[T wire.Message](ctx context.Context, c *clientConn, q *fencedQuestion, p string) (T, error) {
	defer c.done(q.id, q.w)
	defer c.done(q.fid, q.fw)
	var zero T
	select {
	case msg := <-q.w.msgs:
		return answerAs[T](msg, p)
	case <-q.fw.msgs:
		// The read loop hands over answers in the order they
		// arrive, so an answer to the request would be waiting
		// already.
		select {
		case msg := <-q.w.msgs:
			return answerAs[T](msg, p)
		default:
			return zero, fmt.Errorf("%s: %w", p, ErrUnsupported)
		}
	case <-ctx.Done():
		return zero, xfer.CtxError(ctx)
	case <-c.closed:
		return zero, c.Err()
	}
}

// Remove removes remote path p: with dir false a file, symbolic link or
// other non-directory (a directory is CodeNotRegular), with dir true an
// empty directory (a non-empty one is CodeNotEmpty, anything else
// CodeNotDirectory). A read-only server refuses with CodeReadOnly; the
// root itself, and paths leading out of it, with CodeInvalidPath.
func (c *clientConn) Remove(ctx context.Context, p string, dir bool) error {
	var flags wire.RemoveFlags
	if dir {
		flags = wire.RemoveDir
	}
	_, err := fenced[*wire.OK](ctx, c, p, func(id uint64) wire.Message { return &wire.Remove{ID: id, Path: p, Flags: flags} })
	return err
}

// Rename gives remote path from the name to. It never replaces: an
// existing to is CodeExists. A read-only server refuses with
// CodeReadOnly; the root itself, and paths leading out of it, with
// CodeInvalidPath.
func (c *clientConn) Rename(ctx context.Context, from, to string) error {
	_, err := fenced[*wire.OK](ctx, c, from, func(id uint64) wire.Message { return &wire.Rename{ID: id, From: from, To: to} })
	return err
}

// Df describes the file system holding remote path p.
func (c *clientConn) Df(ctx context.Context, p string) (DiskUsage, error) {
	m, err := fenced[*wire.DfResult](ctx, c, p, func(id uint64) wire.Message { return &wire.Df{ID: id, Path: p} })
	if err != nil {
		return DiskUsage{}, err
	}
	return DiskUsage{Total: m.Total, Free: m.Free, Avail: m.Avail, Files: m.Files, FilesFree: m.FilesFree}, nil
}

// Remove removes a remote file (dir false) or empty directory (dir true);
// see clientConn.Remove for the errors. Unlike List or Stat it is not
// retried after a reconnect: the first attempt may have removed p.
func (s *Session) Remove(ctx context.Context, p string, dir bool) error {
	c, err := s.current(ctx)
	if err != nil {
		return err
	}
	return c.Remove(ctx, p, dir)
}

// Rename gives a remote path a new name, which must not exist; see
// clientConn.Rename. It is not retried after a reconnect.
func (s *Session) Rename(ctx context.Context, from, to string) error {
	c, err := s.current(ctx)
	if err != nil {
		return err
	}
	return c.Rename(ctx, from, to)
}

// Df describes the file system holding a remote path.
func (s *Session) Df(ctx context.Context, p string) (d DiskUsage, err error) {
	err = s.do(ctx, func(c *clientConn) error { d, err = c.Df(ctx, p); return err })
	return d, err
}

package session

import (
	"context"
	"io/fs"
	"os"

	"github.com/quic-go/quic-go"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// getJob is one file to pull.
type getJob struct {
	remote   string   // clean path under the server root
	local    string   // clean path under the local root
	root     *os.Root // local destination directory
	meta     fileMeta // as listed by the server
	force    bool
	noResume bool
	limit    *RateLimiter // optional
}

// runGet pulls one file into j.root and reports the verdict to the server.
// If a .part of the same source is there, it asks the server to start at
// its durable offset, proving the prefix with its hash; the server starts
// at 0 if the prefix does not match its file.
func (c *Client) runGet(ctx context.Context, t *Transfer, j getJob) error {
	if c.pool != nil {
		return c.runGetStriped(ctx, t, j)
	}
	dec, err := checkDest(j.root, j.local, j.meta, j.force, nil)
	if err != nil {
		return err
	}
	if dec == destUpToDate {
		return &Error{Code: CodeUpToDate, Path: j.local}
	}
	offset, prefix, rec, absent := resumeOffer(j.root, j.local, j.meta, j.noResume)
	get := &wire.Get{Path: j.remote, Offset: offset, PrefixHash: prefix}
	if j.noResume {
		get.Flags |= wire.FlagNoResume
	}
	id, w, err := c.request(func(id uint64) wire.Message { get.ID = id; return get })
	if err != nil {
		return err
	}
	defer c.done(id, w)
	msg, err := c.await(ctx, w)
	if err != nil {
		c.cmd.send(&wire.Cancel{ID: id, Code: asError(err, "").Code})
		return withPath(asError(err, j.remote), j.remote)
	}
	var info *wire.FileInfo
	switch m := msg.(type) {
	case *wire.FileInfo:
		info = m
	case *wire.Reject:
		return rejected(m, j.remote)
	default:
		return errorf(CodeProtocolViolation, j.remote, "unexpected %s", msg.Type())
	}
	if info.Offset != 0 && info.Offset != offset {
		return errorf(CodeProtocolViolation, j.remote, "server offered offset %d, asked for %d", info.Offset, offset)
	}
	meta := fileMeta{Size: info.Size, Mode: fs.FileMode(info.Mode).Perm(), MTime: info.MTime}
	t.size.Store(int64(meta.Size))
	var ds dataStream
	select {
	case ds = <-w.stream:
	case <-ctx.Done():
		err := ctxError(ctx)
		c.cmd.send(&wire.Cancel{ID: id, Code: asError(err, "").Code})
		return withPath(asError(err, j.local), j.local)
	case <-c.closed:
		return withPath(asError(c.Err(), j.local), j.local)
	}
	rs := ds.rs
	if ds.hdr.Offset != info.Offset {
		rs.CancelRead(quic.StreamErrorCode(CodeProtocolViolation))
		return errorf(CodeProtocolViolation, j.remote, "data stream starts at %d, announced %d", ds.hdr.Offset, info.Offset)
	}
	t.setRunning()
	stop := context.AfterFunc(ctx, func() { rs.CancelRead(quic.StreamErrorCode(causeError(ctx).Code)) })
	rc := &receiver{root: j.root, path: j.local, meta: meta, offset: info.Offset, rec: rec, noRecord: absent, progress: t.addBytes, limit: j.limit}
	rerr := rc.receive(ctx, rs)
	stop()
	done := &wire.Done{ID: id}
	if rerr != nil {
		e := asError(rerr, j.local)
		rs.CancelRead(quic.StreamErrorCode(e.Code))
		done.Code, done.Msg = e.Code, rejectText(e)
		c.cmd.send(done)
		return e
	}
	c.cmd.send(done)
	return nil
}

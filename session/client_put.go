package session

import (
	"bytes"
	"context"
	"hash"
	"os"

	"github.com/quic-go/quic-go"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// putJob is one file to push.
type putJob struct {
	local    string // path on this machine
	remote   string // clean path under the server root
	force    bool
	noResume bool
	limit    *RateLimiter // optional
}

// runPut pushes one file: offer it, learn the server's resume offset, take
// a slot, send the bytes from that offset (after checking the server's
// prefix against ours), give the slot back, and wait for the verdict.
// Offers are pipelined: many files wait for their Accept at once, so a
// tree of small files costs a few round trips, not one per file.
func (c *Client) runPut(ctx context.Context, t *Transfer, j putJob, s *slot) error {
	if c.pool != nil {
		return c.runPutStriped(ctx, t, j, s)
	}
	f, meta, err := openSource(os.Open, j.local, j.local)
	if err != nil {
		return err
	}
	defer f.Close()
	t.size.Store(int64(meta.Size))
	put := &wire.Put{Path: j.remote, Size: meta.Size, Mode: uint32(meta.Mode), MTime: meta.MTime}
	if j.force {
		put.Flags |= wire.FlagForce
	}
	if j.noResume {
		put.Flags |= wire.FlagNoResume
	}
	id, w, err := c.request(func(id uint64) wire.Message { put.ID = id; return put })
	if err != nil {
		return err
	}
	defer c.done(id, w)
	// A cancelled transfer tells the server, which answers with a Done
	// once its side has stopped.
	stopCancel := context.AfterFunc(ctx, func() {
		if e := causeError(ctx); e != nil {
			c.cmd.send(&wire.Cancel{ID: id, Code: e.Code})
		}
	})
	defer stopCancel()

	msg, err := c.await(ctx, w)
	if err != nil {
		return withPath(asError(err, j.remote), j.remote)
	}
	var acc *wire.Accept
	switch m := msg.(type) {
	case *wire.Accept:
		acc = m
	case *wire.Reject:
		return rejected(m, j.remote)
	default:
		return errorf(CodeProtocolViolation, j.remote, "unexpected %s", msg.Type())
	}
	if acc.Flags&wire.AcceptUpToDate != 0 {
		return &Error{Code: CodeUpToDate, Path: j.remote, verdict: true}
	}
	if err := s.acquire(ctx); err != nil {
		return err
	}
	t.setRunning()
	offset, h := c.resumePoint(f, meta, acc, j.remote)
	serr := c.sendBody(ctx, t, id, f, meta, offset, h, j.remote, j.limit)
	s.release()
	if serr != nil && !serr.Remote {
		return serr // our side failed; the stream reset tells the server
	}
	// The verdict comes on the command channel; a stream reset by the
	// server is explained there too.
	msg, err = c.await(ctx, w)
	if err != nil {
		return withPath(asError(err, j.remote), j.remote)
	}
	switch m := msg.(type) {
	case *wire.Reject:
		return rejected(m, j.remote)
	case *wire.Done:
		if m.Code != CodeOK {
			return &Error{Code: m.Code, Remote: true, Path: j.remote, Msg: m.Msg, verdict: true}
		}
		if serr != nil {
			return serr
		}
		return nil
	}
	return errorf(CodeProtocolViolation, j.remote, "unexpected %s", msg.Type())
}

// resumePoint checks the server's resume offer against the local file: if
// the server's prefix hash matches ours, sending starts at the offset with
// the hash state of the prefix; otherwise (the source changed since the
// .part was written) at 0, and the server starts over. A changed source
// never produces a spliced file.
func (c *Client) resumePoint(f *os.File, meta fileMeta, acc *wire.Accept, p string) (uint64, hash.Hash) {
	if acc.Offset == 0 || acc.Offset > meta.Size || len(acc.PrefixHash) != wire.HashSize {
		return 0, nil
	}
	h, err := hashPrefix(f, acc.Offset)
	if err != nil {
		return 0, nil
	}
	if !bytes.Equal(h.Sum(nil), acc.PrefixHash) {
		c.log.Info().Str("path", p).Uint64("offset", acc.Offset).Msg("partial file on the server belongs to another version; starting over")
		return 0, nil
	}
	c.log.Debug().Str("path", p).Uint64("offset", acc.Offset).Msg("resuming")
	return acc.Offset, h
}

// sendBody opens the file's stream and sends header, body from offset,
// and the whole-file SHA-256 trailer.
func (c *Client) sendBody(ctx context.Context, t *Transfer, id uint64, f *os.File, meta fileMeta, offset uint64, h hash.Hash, remote string, limit *RateLimiter) *Error {
	ws, err := c.conn.OpenUniStreamSync(ctx)
	if err != nil {
		return streamWriteError(ctx, err, remote)
	}
	stop := context.AfterFunc(ctx, func() { ws.CancelWrite(quic.StreamErrorCode(causeError(ctx).Code)) })
	defer stop()
	if _, err := ws.Write(wire.AppendStreamHeader(nil, wire.StreamHeader{ID: id, Offset: offset})); err != nil {
		return streamWriteError(ctx, err, remote)
	}
	sd := &sender{path: remote, file: f, meta: meta, offset: offset, hash: h, progress: t.addBytes, limit: limit}
	if err := sd.send(ctx, ws); err != nil {
		e := asError(err, remote)
		ws.CancelWrite(quic.StreamErrorCode(e.Code))
		return e
	}
	if err := ws.Close(); err != nil {
		// Close fails, with a plain error, on a stream the server has
		// already stopped; the stop carries the code, as a failed Write
		// would (the verdict follows on the command channel).
		if cause := context.Cause(ws.Context()); cause != nil {
			err = cause
		}
		return streamWriteError(ctx, err, remote)
	}
	return nil
}

package session

import (
	"context"
	"os"

	"github.com/quic-go/quic-go"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// optimisticMax is the largest file pushed without waiting for Accept: its
// data stream opens right after the Put, so many small files cost no round
// trip each. Larger files wait one round trip for the Accept, which later
// versions use to learn a resume offset.
const optimisticMax = 1 << 20

// putJob is one file to push.
type putJob struct {
	local  string // path on this machine
	remote string // clean path under the server root
	force  bool
}

// runPut pushes one file and returns when the server's verdict is in (or
// the transfer failed locally). sent is called once the body has been
// handed to the stream, so the caller can start the next file's bytes
// while this one waits for its verdict.
func (c *Client) runPut(ctx context.Context, t *Transfer, j putJob, sent func()) error {
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

	accepted := false
	if meta.Size > optimisticMax {
		msg, err := c.await(ctx, w)
		if err != nil {
			return withPath(asError(err, j.remote), j.remote)
		}
		switch m := msg.(type) {
		case *wire.Accept:
			if m.Flags&wire.AcceptUpToDate != 0 {
				return &Error{Code: CodeUpToDate, Path: j.remote}
			}
			accepted = true
		case *wire.Reject:
			return rejected(m, j.remote)
		default:
			return errorf(CodeProtocolViolation, j.remote, "unexpected %s", msg.Type())
		}
	}
	t.setRunning()
	serr := c.sendBody(ctx, t, id, f, meta, j.remote)
	sent()
	if serr != nil && !serr.Remote {
		return serr // our side failed; the stream reset tells the server
	}
	// The verdict comes on the command channel; a stream reset by the
	// server is explained there too.
	for {
		msg, err := c.await(ctx, w)
		if err != nil {
			return withPath(asError(err, j.remote), j.remote)
		}
		switch m := msg.(type) {
		case *wire.Accept:
			if accepted {
				return errorf(CodeProtocolViolation, j.remote, "second accept")
			}
			accepted = true
			if m.Flags&wire.AcceptUpToDate != 0 {
				return &Error{Code: CodeUpToDate, Path: j.remote}
			}
		case *wire.Reject:
			return rejected(m, j.remote)
		case *wire.Done:
			if m.Code != CodeOK {
				return &Error{Code: m.Code, Remote: true, Path: j.remote, Msg: m.Msg}
			}
			if serr != nil {
				return serr
			}
			return nil
		default:
			return errorf(CodeProtocolViolation, j.remote, "unexpected %s", msg.Type())
		}
	}
}

// sendBody opens the file's stream and sends header, body and trailer.
func (c *Client) sendBody(ctx context.Context, t *Transfer, id uint64, f *os.File, meta fileMeta, remote string) *Error {
	ws, err := c.conn.OpenUniStreamSync(ctx)
	if err != nil {
		return streamWriteError(ctx, err, remote)
	}
	stop := context.AfterFunc(ctx, func() { ws.CancelWrite(quic.StreamErrorCode(causeError(ctx).Code)) })
	defer stop()
	if _, err := ws.Write(wire.AppendStreamHeader(nil, wire.StreamHeader{ID: id})); err != nil {
		return streamWriteError(ctx, err, remote)
	}
	sd := &sender{path: remote, file: f, meta: meta, progress: t.addBytes}
	if err := sd.send(ctx, ws); err != nil {
		e := asError(err, remote)
		ws.CancelWrite(quic.StreamErrorCode(e.Code))
		return e
	}
	if err := ws.Close(); err != nil {
		// Close fails, with a plain error, on a stream the server has
		// already stopped (an optimistic push it refused or found up to
		// date); the stop carries the code, as a failed Write would.
		if cause := context.Cause(ws.Context()); cause != nil {
			err = cause
		}
		return streamWriteError(ctx, err, remote)
	}
	return nil
}

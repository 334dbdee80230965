package session

import (
	"context"
	"io"

	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// Delta transfers on the client (PROTOCOL.md, "Delta"): as the sender of
// a push it plans from the server's signature; as the receiver of a pull
// it describes its old version and seeds its .part from the server's
// plan (client_delta_pull.go).

// awaitAccept waits for the server's answer to a push of f (meta): an
// Accept, or first the signature of a delta, which it answers with the
// plan before waiting for the Accept. Each frame's chunks are looked
// for in f as they come (xfer.Matcher), while the server still signs.
// When the plan copies at least one chunk, the server seeds its .part
// from it and the push is sealed as a delta: planned is then f's
// chunks, for the seal to check (xfer.SenderConfig); nil otherwise.
func (c *clientConn) awaitAccept(ctx context.Context, w *waiter, id uint64, f io.ReaderAt, meta xfer.FileMeta, p string) (acc *wire.Accept, planned []xfer.Chunk, err error) {
	var mt *xfer.Matcher
	defer func() {
		if mt != nil {
			mt.Stop()
		}
	}()
	for {
		msg, err := c.await(ctx, w)
		if err != nil {
			return nil, nil, xfer.WithPath(xfer.AsError(err, p), p)
		}
		switch m := msg.(type) {
		case *wire.Accept:
			return m, planned, nil
		case *wire.Reject:
			return nil, nil, rejected(m, p)
		case *wire.DeltaSig:
			if mt == nil {
				mt = xfer.NewMatcher(f, meta.Size)
			}
			if err := mt.Add(ctx, m.Chunks, p); err != nil {
				return nil, nil, xfer.WithPath(xfer.AsError(err, p), p)
			}
			if m.Last {
				chunks, copied, err := mt.Plan(ctx, func(ops []wire.CopyOp, last bool) error {
					return c.send(&wire.DeltaPlan{ID: id, Last: last, Ops: ops})
				})
				if err != nil {
					return nil, nil, xfer.WithPath(xfer.AsError(err, p), p)
				}
				if copied > 0 {
					planned = chunks
				}
				c.log.Debug().Str("path", p).Int("chunks", len(chunks)).Uint64("copied", copied).Uint64("size", meta.Size).Msg("delta planned")
				mt.Stop()
				mt = nil // the index is not needed any more
			}
		default:
			return nil, nil, xfer.Errorf(CodeProtocolViolation, p, "unexpected %s", msg.Type())
		}
	}
}

// deltaFlag is FlagDelta when on is set: the client asks for a delta
// transfer of a file that replaces a differing destination.
func deltaFlag(on bool) wire.TransferFlags {
	if on {
		return wire.FlagDelta
	}
	return 0
}

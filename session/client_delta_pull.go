package session

import (
	"context"

	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// The client's side of a delta pull (PROTOCOL.md, "Delta"): it sends the
// signature of the version it holds right behind the Get, reads the
// server's plan before the FileInfo, seeds its .part and tells the
// server what it holds with a DeltaHave.

// pullDeltaBase returns the local destination of j, open for reading,
// when its pull is to be a delta: -f without -W, no partial file of the
// listed version to resume (have is what a record offers), and a
// regular file of at least xfer.DeltaMinSize bytes. Nil otherwise.
func pullDeltaBase(j getJob, have []wire.Range) *xfer.Base {
	if !j.force || j.whole || len(have) > 0 {
		return nil
	}
	return xfer.OpenDeltaBase(j.root, j.local)
}

// sendSignature sends the signature of old, the local version of a
// delta pull's file, as DeltaSig frames of request id.
func (c *clientConn) sendSignature(ctx context.Context, id uint64, old *xfer.Base, p string) error {
	err := old.Signature(ctx, func(chunks []wire.SigChunk, last bool) error {
		return c.send(&wire.DeltaSig{ID: id, Last: last, Chunks: chunks})
	})
	if err != nil {
		return xfer.WithPath(xfer.AsError(err, p), p)
	}
	return nil
}

// awaitFileInfo waits for the server's FileInfo for a pull of j. When
// delta is set, a server doing the delta sends its plan first: the plan
// is returned, checked against the FileInfo's size (nil when the server
// sent the FileInfo first: it does not do delta, and sends the file
// whole).
func (c *clientConn) awaitFileInfo(ctx context.Context, w *waiter, j getJob, delta bool) (*wire.FileInfo, []wire.CopyOp, error) {
	if !delta {
		info, err := awaitAnswer[*wire.FileInfo](ctx, c, w, j.remote)
		return info, nil, err
	}
	// The plan is bounded as for a file twice the listed size (the file
	// may have grown since it was listed), and checked again once the
	// FileInfo gives the size it was made for.
	collect := xfer.NewPlanOps(2*j.meta.Size+xfer.ChunkMax, j.local)
	var ops []wire.CopyOp
	planned := false
	for {
		msg, err := c.await(ctx, w)
		if err != nil {
			return nil, nil, xfer.WithPath(xfer.AsError(err, j.remote), j.remote)
		}
		switch m := msg.(type) {
		case *wire.DeltaPlan:
			if planned {
				return nil, nil, xfer.Errorf(CodeProtocolViolation, j.remote, "delta plan after its last frame")
			}
			if err := collect.Add(m.Ops); err != nil {
				return nil, nil, err
			}
			ops = append(ops, m.Ops...)
			planned = m.Last
		case *wire.FileInfo:
			if len(ops) > 0 && !planned {
				return nil, nil, xfer.Errorf(CodeProtocolViolation, j.remote, "file info before the delta plan's last frame")
			}
			if !planned {
				return m, nil, nil
			}
			if ops == nil {
				ops = []wire.CopyOp{}
			}
			return m, ops, nil
		case *wire.Reject:
			return nil, nil, rejected(m, j.remote)
		default:
			return nil, nil, xfer.Errorf(CodeProtocolViolation, j.remote, "unexpected %s", msg.Type())
		}
	}
}

// seedPull copies a delta pull's plan from old into rc's .part and tells
// the server what rc now holds (DeltaHave). The offer is what rc holds.
func (c *clientConn) seedPull(ctx context.Context, id uint64, rc *xfer.Receiver, old *xfer.Base, ops []wire.CopyOp, meta xfer.FileMeta, p string) (xfer.Offer, error) {
	plan := xfer.NewPlanOps(meta.Size, p)
	if err := plan.Add(ops); err != nil {
		rc.Discard()
		return xfer.Offer{}, err
	}
	offer, err := rc.Seed(ctx, old, plan)
	if err != nil {
		return xfer.Offer{}, err
	}
	if err := c.send(&wire.DeltaHave{ID: id, Have: offer.Have, PrefixHash: offer.PrefixHash}); err != nil {
		rc.Abandon(CodeCancelled)
		return xfer.Offer{}, err
	}
	return offer, nil
}

package session

import (
	"context"
	"io"

	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// Delta transfers on the server (PROTOCOL.md, "Delta"): as the receiver
// of a push it describes the destination it holds and seeds the .part
// from the client's plan; as the sender of a pull it plans from the
// client's signature.

// openPushReceiver opens the receiver of a push. When the push may be a
// delta (deltaBase finds an old version worth describing), the .part is
// started over and seeded from the old version by the client's plan
// (pushDelta) before the offer; otherwise it is xfer.OpenReceiver.
func (ss *serverSession) openPushReceiver(ctx context.Context, m *wire.Put, x *serverXfer, cfg xfer.ReceiverConfig) (*xfer.Receiver, xfer.Offer, error) {
	old := ss.deltaBase(m, cfg)
	if old == nil {
		return xfer.OpenReceiver(cfg)
	}
	defer old.Close()
	cfg.NoResume = true
	rc, _, err := xfer.OpenReceiver(cfg)
	if err != nil {
		return nil, xfer.Offer{}, err
	}
	offer, err := ss.pushDelta(ctx, m.ID, x, rc, old)
	if err != nil {
		return nil, xfer.Offer{}, err
	}
	return rc, offer, nil
}

// deltaBase returns the old version of a push's destination, open for
// reading, when the push is to be a delta: the client asked for one
// (FlagDelta, with FlagForce), the destination is a regular file of at
// least xfer.DeltaMinSize bytes, and no resume record of the offered
// version exists (a .part to resume holds more). Nil otherwise.
func (ss *serverSession) deltaBase(m *wire.Put, cfg xfer.ReceiverConfig) *xfer.Base {
	if m.Flags&wire.FlagDelta == 0 || m.Flags&wire.FlagForce == 0 {
		return nil
	}
	if m.Flags&wire.FlagNoResume == 0 {
		if rec, _ := xfer.LoadRecord(cfg.Root, cfg.Path); rec.Matches(cfg.Meta) {
			return nil
		}
	}
	return xfer.OpenDeltaBase(cfg.Root, cfg.Path)
}

// pushDelta sends the signature of old, the push's destination, collects
// the client's plan and seeds rc's .part with it. On failure rc is
// finished (its .part removed) and the destination is untouched.
func (ss *serverSession) pushDelta(ctx context.Context, id uint64, x *serverXfer, rc *xfer.Receiver, old *xfer.Base) (xfer.Offer, error) {
	p := x.t.Path
	plans := make(chan *wire.DeltaPlan, 4)
	ss.mu.Lock()
	x.plans = plans
	ss.mu.Unlock()
	// An empty first frame tells the client at once that a delta is
	// coming, so it chunks its version while this side chunks the old
	// one, rather than after the first full frame (about 110 MiB).
	if err := ss.cmd.send(&wire.DeltaSig{ID: id}); err != nil {
		rc.Discard()
		return xfer.Offer{}, xfer.AsError(err, p)
	}
	err := rc.SignPrefilled(ctx, old, func(chunks []wire.SigChunk, last bool) error {
		return ss.cmd.send(&wire.DeltaSig{ID: id, Last: last, Chunks: chunks})
	})
	if err != nil {
		rc.Discard()
		return xfer.Offer{}, err
	}
	plan := xfer.NewPlanOps(x.meta.Size, p)
	for {
		var m *wire.DeltaPlan
		select {
		case m = <-plans:
		case <-ctx.Done():
			rc.Discard()
			return xfer.Offer{}, xfer.WithPath(xfer.CauseError(ctx), p)
		}
		if err := plan.Add(m.Ops); err != nil {
			rc.Discard()
			return xfer.Offer{}, err
		}
		if m.Last {
			break
		}
	}
	ops := plan.Len() // Seed takes the plan's operations
	offer, err := rc.Seed(ctx, old, plan)
	if err == nil {
		ss.log.Debug().Str("path", p).Int("ops", ops).Uint64("held", haveBytes(offer.Have)).Msg("delta seeded")
	}
	return offer, err
}

// deltaPlan hands a DeltaPlan to the push waiting for it; one for no
// such push (crossed with its end), or after the plan's last frame, is
// dropped, so a client that goes on sending plans never holds up the
// command loop.
func (ss *serverSession) deltaPlan(m *wire.DeltaPlan) {
	ss.mu.Lock()
	var plans chan *wire.DeltaPlan
	x := ss.active[m.ID]
	if x != nil {
		plans = x.plans
		if m.Last {
			x.plans = nil
		}
	}
	ss.mu.Unlock()
	if plans == nil {
		return
	}
	select {
	case plans <- m:
	case <-x.done:
	}
}

// pullDelta plans a delta pull of f (meta) from the client's signature:
// it reads the signature's DeltaSig frames from the pull's messages,
// sends the plan, then the FileInfo, and waits for the client's
// DeltaHave, which it returns as the offer the sender starts from.
// When the plan copies at least one chunk, the client seeds its .part
// from it and the pull is sealed as a delta: planned is then f's chunks,
// for the seal to check (xfer.SenderConfig); nil otherwise.
func (ss *serverSession) pullDelta(ctx context.Context, x *serverXfer, f io.ReaderAt, meta xfer.FileMeta) (offer xfer.Offer, planned []xfer.Chunk, err error) {
	id, p := x.t.ID, x.t.Path
	// The file is chunked while the client's signature comes in.
	ck := xfer.StartChunker(ctx, f, meta.Size)
	defer func() {
		if ck != nil {
			ck.Wait(true)
		}
	}()
	var ix xfer.Index
	for last := false; !last; {
		select {
		case msg := <-x.msgs:
			if m, ok := msg.(*wire.DeltaSig); ok {
				if err := ix.Add(m.Chunks, p); err != nil {
					return xfer.Offer{}, nil, err
				}
				last = m.Last
			}
		case <-ctx.Done():
			return xfer.Offer{}, nil, xfer.WithPath(xfer.CauseError(ctx), p)
		}
	}
	chunks, err := ck.Wait(false)
	ck = nil
	if err != nil {
		return xfer.Offer{}, nil, xfer.AsError(err, p)
	}
	copied, err := xfer.PlanFrom(chunks, &ix, func(ops []wire.CopyOp, last bool) error {
		return ss.cmd.send(&wire.DeltaPlan{ID: id, Last: last, Ops: ops})
	})
	if err != nil {
		return xfer.Offer{}, nil, xfer.AsError(err, p)
	}
	ss.log.Debug().Str("path", p).Int("chunks", ix.Len()).Uint64("copied", copied).Msg("delta planned")
	ix = xfer.Index{}
	if err := ss.cmd.send(&wire.FileInfo{ID: id, Size: meta.Size, Mode: uint32(meta.Mode), MTime: meta.MTime}); err != nil {
		return xfer.Offer{}, nil, xfer.AsError(err, p)
	}
	for {
		select {
		case msg := <-x.msgs:
			if m, ok := msg.(*wire.DeltaHave); ok {
				if copied > 0 {
					planned = chunks
				}
				return xfer.Offer{Have: m.Have}, planned, nil
			}
		case <-ctx.Done():
			return xfer.Offer{}, nil, xfer.WithPath(xfer.CauseError(ctx), p)
		}
	}
}

package session

import (
	"context"

	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// get handles a pull: open the file, register the transfer, announce the
// file with FileInfo, then send the ranges the client lacks over the
// session's connections, and the seal, in a goroutine of the session. The
// client's Done ends it. A client holding ranges of another version of
// the file is refused with HashMismatch, and starts over.
func (ss *serverSession) get(ctx context.Context, m *wire.Get) error {
	p, f, meta, err := ss.openRead(ctx, m.Path)
	if err != nil {
		return err
	}
	var have xfer.RangeSet
	if m.Flags&wire.FlagNoResume == 0 && len(m.Have) > 0 {
		if meta.Size != m.Size || !meta.MTime.Equal(m.MTime) {
			f.Close()
			return xfer.Errorf(CodeHashMismatch, p, "the file changed since the partial copy was made")
		}
		var ok bool
		if have, ok = xfer.RangeSetOf(m.Have, meta.Size); !ok {
			f.Close()
			return xfer.Errorf(CodeProtocolViolation, p, "ranges outside the file")
		}
	}
	x, tctx, err := ss.registerPull(ctx, m.ID, p, meta)
	if err != nil {
		f.Close()
		return err
	}
	x.resumed = have.Total()
	ss.transferStarted(x.t)
	t := x.t
	id := m.ID
	// A delta pull (server_delta.go) sends its FileInfo after the plan.
	delta := m.Flags&wire.FlagDelta != 0 && have.Total() == 0
	if !delta {
		if err := ss.cmd.send(&wire.FileInfo{ID: id, Size: meta.Size, Mode: uint32(meta.Mode), MTime: meta.MTime}); err != nil {
			f.Close()
			return nil // the connection is gone; the session's teardown ends x
		}
	}
	ss.wg.Go(func() {
		defer f.Close()
		offer := xfer.Offer{Have: have.Ranges(), PrefixHash: m.PrefixHash}
		var err error
		var planned []xfer.Chunk
		if delta {
			offer, planned, err = ss.pullDelta(tctx, x, f, meta)
		}
		if err == nil {
			t.setRunning()
			sd := xfer.NewSender(xfer.SenderConfig{
				ID: id, Path: p, File: f, Meta: meta, Lanes: ss.lanes, Progress: t.addBytes,
				Seal:  func(h []byte) error { return ss.cmd.send(&wire.Seal{ID: id, Hash: h}) },
				Delta: planned != nil, Chunks: planned,
			})
			_, err = sd.Run(tctx, offer, x.msgs, nil)
		}
		if err == nil {
			return // the client's Done ends x
		}
		e := xfer.AsError(err, p)
		ss.log.Debug().Uint64("id", id).Str("path", p).Stringer("code", e.Code).Str("msg", e.Msg).Msg("pull failed")
		live := tctx.Err() == nil
		// The pull leaves the session before the Reject goes out, so
		// a retry it prompts is not refused as a pull still running.
		var reject wire.Message
		if live {
			reject = &wire.Reject{ID: id, Code: e.Code, Msg: rejectText(e)}
		}
		ss.endAndSend(id, x, stateFor(e), e, reject)
	})
	return nil
}

// registerPull enters a pull in the session, within MaxTransfers, with
// a channel for the client's Acks and verdict. Pulls of one source are
// not exclusive: a pull only reads here, and its destination is the
// client's, which keeps its own table by destination (two gets of one
// file to two local names both run).
func (ss *serverSession) registerPull(ctx context.Context, id uint64, p string, meta xfer.FileMeta) (*serverXfer, context.Context, error) {
	tctx, cancel := context.WithCancelCause(ctx)
	t := newTransfer(id, Pull, p, "", int64(meta.Size), cancel)
	x := &serverXfer{t: t, done: tctx.Done(), meta: meta, msgs: make(chan wire.Message, 16)}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.active) >= ss.srv.cfg.MaxTransfers {
		cancel(nil)
		return nil, nil, xfer.Errorf(CodeLimitExceeded, p, "more than %d transfers at once", ss.srv.cfg.MaxTransfers)
	}
	ss.active[id] = x
	return x, tctx, nil
}

// forward hands an Ack or the client's Done to the sender of a pull.
func (ss *serverSession) forward(id uint64, m wire.Message) {
	ss.mu.Lock()
	x := ss.active[id]
	ss.mu.Unlock()
	if x == nil || x.msgs == nil {
		return
	}
	select {
	case x.msgs <- m:
	case <-x.done:
	}
}

// pullDone records the client's verdict on a pulled file.
func (ss *serverSession) pullDone(m *wire.Done) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	x, ok := ss.active[m.ID]
	if !ok || x.t.Dir != Pull {
		return // already ended on our side (send failure or cancel)
	}
	var err error
	if m.Code != CodeOK {
		err = &Error{Code: m.Code, Remote: true, Path: x.t.Path, Msg: m.Msg}
	}
	ss.log.Debug().Uint64("id", m.ID).Str("path", x.t.Path).Stringer("code", m.Code).Msg("pull ended")
	ss.endLocked(m.ID, x, stateFor(err), err)
}

package session

import (
	"context"
	"errors"
	"io/fs"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/quicvarint"

	"github.com/qxfer/qxfer/session/internal/store"
	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// put handles a push offer. The checks that touch no file are made here,
// on the command loop (allow: the client's access and the path; the
// transfer limit); the transfer is then registered as opening and the
// rest runs in a goroutine of the session (openPush), so that a slow
// disk, a quota walk, a takeover or a path that blocks never holds up the
// session's other requests. Range streams and a seal that arrive before
// the receiver is open wait for it.
func (ss *serverSession) put(ctx context.Context, m *wire.Put) error {
	p, err := ss.allow(opWrite, m.Path)
	if err != nil {
		return err
	}
	meta := xfer.FileMeta{Size: m.Size, Mode: fs.FileMode(m.Mode).Perm(), MTime: m.MTime}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.active) >= ss.srv.cfg.MaxTransfers {
		return xfer.Errorf(CodeLimitExceeded, p, "more than %d transfers at once", ss.srv.cfg.MaxTransfers)
	}
	tctx, cancel := context.WithCancelCause(ctx)
	t := newTransfer(m.ID, Push, p, "", int64(m.Size), cancel)
	t.owner, t.sess = ss.owner, ss.id
	x := &serverXfer{t: t, done: tctx.Done(), meta: meta}
	ss.active[m.ID] = x
	ss.wg.Go(func() { ss.openPush(ctx, tctx, cancel, m, x) })
	return nil
}

// openPush takes the destination in the transfer table, checks it, admits
// its size against the free space and the client's quota (admitPush),
// opens the receiver and answers the Accept (or the refusal); then it
// waits for the file and sends the verdict.
func (ss *serverSession) openPush(ctx, tctx context.Context, cancel context.CancelCauseFunc, m *wire.Put, x *serverXfer) {
	id, t, p := m.ID, x.t, x.t.Path
	// The table entry comes first: it is what guarantees a single writer
	// per .part, and the resume record must be read under it.
	key := ss.tableKey(p)
	acquired := false
	err := ss.srv.acquire(ctx, t, key)
	var adm *admission
	var rc store.Writer
	var offer xfer.Offer
	if err == nil {
		acquired = true
		var dec xfer.DestDecision
		dec, err = ss.store.CheckDest(ctx, p, x.meta, m.Flags&wire.FlagForce != 0)
		dec, err = noQuickCheck(dec, err, m.Flags, p)
		if err == nil && dec == xfer.DestUpToDate {
			err = &Error{Code: CodeUpToDate}
		}
	}
	if err == nil {
		adm, err = ss.admitPush(p, m.Size)
	}
	if err == nil {
		ack := func(r wire.Range) { ss.cmd.send(&wire.Ack{ID: id, Offset: r.Offset, Length: r.Length}) }
		if ss.root != nil {
			// A directory: the engine's receiver, with the session's
			// held directories, the group commit and delta transfer.
			rc, offer, err = ss.openPushReceiver(tctx, m, x, xfer.ReceiverConfig{
				Root: ss.root, Path: p, Meta: x.meta, NoResume: m.Flags&wire.FlagNoResume != 0,
				Ack: ack, Progress: t.addBytes, Dirs: &ss.dirs, Sync: &ss.srv.durable,
			})
		} else {
			rc, offer, err = ss.store.OpenWriter(ctx, store.WriterConfig{
				Path: p, Meta: x.meta, NoResume: m.Flags&wire.FlagNoResume != 0, Force: m.Flags&wire.FlagForce != 0,
				Ack: ack, Progress: t.addBytes,
			})
		}
	}
	if err != nil {
		adm.end()
		ss.mu.Lock()
		if ss.active[id] == x {
			delete(ss.active, id)
		}
		ss.signalLocked()
		ss.mu.Unlock()
		if acquired {
			ss.srv.table.remove(t, key)
		}
		cancel(nil)
		if errors.Is(err, &Error{Code: CodeUpToDate}) {
			ss.transferStarted(t)
			ss.transferEnded(t, 0, err)
			ss.cmd.send(&wire.Accept{ID: id, Flags: wire.AcceptUpToDate})
			return
		}
		ss.reply(id, err)
		return
	}
	adm.landed()
	ss.mu.Lock()
	x.recv = rc
	x.resumed = haveBytes(offer.Have)
	early := x.seal
	ss.signalLocked()
	ss.mu.Unlock()
	if early != nil {
		rc.SetSeal(early)
	}
	ss.transferStarted(t)
	if len(offer.Have) > 0 {
		ss.srv.refreshPartial(key)
		ss.log.Info().Str("path", p).Int("ranges", len(offer.Have)).Msg("offering resume")
	}
	ss.sendAlign(id, rc)
	ss.cmd.send(&wire.Accept{ID: id, Have: offer.Have, PrefixHash: offer.PrefixHash})
	t.setRunning()
	err = rc.Wait(tctx)
	adm.end()
	done := &wire.Done{ID: id}
	if err != nil {
		e := xfer.AsError(err, p)
		done.Code, done.Msg = e.Code, rejectText(e)
		ss.log.Debug().Uint64("id", id).Str("path", p).Stringer("code", e.Code).Str("msg", e.Msg).Msg("push failed")
	} else {
		ss.log.Debug().Uint64("id", id).Str("path", p).Uint64("size", x.meta.Size).Msg("received")
	}
	ss.endAndSend(id, x, stateFor(err), err, done)
}

// receiveStream reads a range stream's header and hands the stream to its
// push.
func (ss *serverSession) receiveStream(ctx context.Context, rs *quic.ReceiveStream) {
	rs.SetReadDeadline(time.Now().Add(ss.srv.cfg.StreamWait))
	hdr, err := wire.ReadRangeHeader(quicvarint.NewReader(rs))
	if err != nil {
		rs.CancelRead(quic.StreamErrorCode(CodeProtocolViolation))
		return
	}
	x, code := ss.claim(ctx, hdr.ID)
	if x == nil {
		rs.CancelRead(quic.StreamErrorCode(code))
		return
	}
	rs.SetReadDeadline(time.Time{})
	// The stream lives until the receiver's Wait stops it, when the
	// transfer ends; ctx (the session's) bounds it otherwise.
	x.recv.Receive(ctx, rs, hdr)
}

// seal hands a push its whole-file hash, or keeps it for the receiver
// of a push still opening.
func (ss *serverSession) seal(m *wire.Seal) {
	ss.mu.Lock()
	x := ss.active[m.ID]
	var rc store.Writer
	switch {
	case x == nil || x.msgs != nil: // unknown, or a pull
	case x.recv == nil:
		x.seal = m.Hash
	default:
		rc = x.recv
	}
	ss.mu.Unlock()
	if rc != nil {
		rc.SetSeal(m.Hash)
	}
}

// cancel handles a Cancel from the client: the transfer is stopped
// through its context, and its receiver (a push) or sender (a pull) ends
// it.
func (ss *serverSession) cancel(m *wire.Cancel) {
	e := &Error{Code: m.Code, Remote: true, Msg: "cancelled by client"}
	ss.mu.Lock()
	x, ok := ss.active[m.ID]
	if ok && x.t.Dir == Pull {
		// A pull has nothing to keep: it leaves the session now, so the
		// client's next Get of the file (a retry, or the same file
		// again after its receiver failed) is not refused as a pull
		// still running while the sender winds down.
		ss.endLocked(m.ID, x, stateFor(e), e)
	}
	ss.mu.Unlock()
	if ok {
		x.t.cancelWith(e)
	}
}

// claim waits until the Put for id has been handled and returns its
// transfer. Ids increase strictly and requests are handled in order, so
// once a request id at least as high is settled, a missing transfer is
// never coming.
func (ss *serverSession) claim(ctx context.Context, id uint64) (*serverXfer, ErrorCode) {
	timer := time.NewTimer(ss.srv.cfg.StreamWait)
	defer timer.Stop()
	for {
		ss.mu.Lock()
		x, ok := ss.active[id]
		switch {
		case ok && x.recv != nil:
			ss.mu.Unlock()
			return x, CodeOK
		case ok && x.msgs == nil:
			// A push whose receiver is opening: wait for it.
		case ok || id <= ss.settled:
			ss.mu.Unlock()
			return nil, CodeUnknownTransfer
		}
		ch := ss.changed
		ss.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, CodeShutdown
		case <-timer.C:
			return nil, CodeUnknownTransfer
		}
	}
}

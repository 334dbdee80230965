package session

import (
	"context"
	"errors"
	"io/fs"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/quicvarint"

	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// put handles a push offer: take the destination in the transfer table,
// check it, admit its size against the free space and the client's quota
// (admitPush), prepare the .part, and answer Accept with the ranges a
// matching partial file already holds. Range streams may already be
// waiting for it; they are written by a receiver whose verdict ends the
// transfer with a Done.
func (ss *serverSession) put(ctx context.Context, m *wire.Put) error {
	p, err := ss.allow(opWrite, m.Path)
	if err != nil {
		return err
	}
	meta := xfer.FileMeta{Size: m.Size, Mode: fs.FileMode(m.Mode).Perm(), MTime: m.MTime}
	force := m.Flags&wire.FlagForce != 0
	ss.mu.Lock()
	n := len(ss.active)
	ss.mu.Unlock()
	if n >= ss.srv.cfg.MaxTransfers {
		return xfer.Errorf(CodeLimitExceeded, p, "more than %d transfers at once", ss.srv.cfg.MaxTransfers)
	}
	tctx, cancel := context.WithCancelCause(ctx)
	t := newTransfer(m.ID, Push, p, "", int64(m.Size), cancel)
	t.owner, t.sess = ss.owner, ss.id
	// The table entry comes first: it is what guarantees a single writer
	// per .part, and the resume record must be read under it.
	key := ss.serverPath(p)
	if err := ss.srv.acquire(ctx, t, key); err != nil {
		cancel(nil)
		return err
	}
	dec, err := xfer.CheckDest(ss.root, p, meta, force, ss.dirs)
	if err == nil && dec == xfer.DestUpToDate {
		err = &Error{Code: CodeUpToDate}
	}
	var adm *admission
	if err == nil {
		adm, err = ss.admitPush(p, m.Size)
	}
	if err == nil {
		err = ss.receivePush(m, t, tctx, meta, adm)
	}
	if err != nil {
		ss.srv.table.remove(t, key)
		cancel(nil)
		if errors.Is(err, &Error{Code: CodeUpToDate}) {
			return ss.cmd.send(&wire.Accept{ID: m.ID, Flags: wire.AcceptUpToDate})
		}
		return err
	}
	return nil
}

// receivePush opens the receiver of an accepted push, answers the
// Accept, and waits for the file in a goroutine of the session, which
// sends the verdict.
func (ss *serverSession) receivePush(m *wire.Put, t *Transfer, tctx context.Context, meta xfer.FileMeta, adm *admission) error {
	id, p := m.ID, t.Path
	rc, offer, err := xfer.OpenReceiver(xfer.ReceiverConfig{
		Root: ss.root, Path: p, Meta: meta, NoResume: m.Flags&wire.FlagNoResume != 0,
		Ack:      func(r wire.Range) { ss.cmd.send(&wire.Ack{ID: id, Offset: r.Offset, Length: r.Length}) },
		Progress: t.addBytes,
	})
	if err != nil {
		adm.end()
		return err
	}
	adm.landed()
	x := &serverXfer{t: t, done: tctx.Done(), meta: meta, recv: rc}
	ss.mu.Lock()
	ss.active[id] = x
	ss.signalLocked()
	ss.mu.Unlock()
	if len(offer.Have) > 0 {
		ss.log.Info().Str("path", p).Int("ranges", len(offer.Have)).Msg("offering resume")
	}
	serr := ss.cmd.send(&wire.Accept{ID: id, Have: offer.Have, PrefixHash: offer.PrefixHash})
	ss.wg.Go(func() {
		t.setRunning()
		err := rc.Wait(tctx)
		adm.end()
		done := &wire.Done{ID: id}
		if err != nil {
			e := xfer.AsError(err, p)
			done.Code, done.Msg = e.Code, rejectText(e)
			ss.log.Info().Uint64("id", id).Str("path", p).Stringer("code", e.Code).Str("msg", e.Msg).Msg("push failed")
		} else {
			ss.log.Info().Uint64("id", id).Str("path", p).Uint64("size", meta.Size).Msg("received")
		}
		ss.mu.Lock()
		ss.endLocked(id, x, stateFor(err), err)
		ss.mu.Unlock()
		ss.cmd.send(done)
	})
	return serr
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

// seal hands a push its whole-file hash.
func (ss *serverSession) seal(m *wire.Seal) {
	ss.mu.Lock()
	x := ss.active[m.ID]
	ss.mu.Unlock()
	if x != nil && x.recv != nil {
		x.recv.SetSeal(m.Hash)
	}
}

// cancel handles a Cancel from the client: the transfer is stopped
// through its context, and its receiver (a push) or sender (a pull) ends
// it.
func (ss *serverSession) cancel(m *wire.Cancel) {
	e := &Error{Code: m.Code, Remote: true, Msg: "cancelled by client"}
	ss.mu.Lock()
	x, ok := ss.active[m.ID]
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
		if ok && x.recv != nil {
			ss.mu.Unlock()
			return x, CodeOK
		}
		if ok || id <= ss.settled {
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

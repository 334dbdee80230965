package session

import (
	"context"
	"crypto/rand"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/qxfer/qxfer/session/internal/wire"
)

func (s *Server) registerPool(token string, ss *serverSession) {
	s.poolMu.Lock()
	s.pools[token] = ss
	ss.token = token
	s.poolMu.Unlock()
}

func (s *Server) unregisterPool(token string) {
	s.poolMu.Lock()
	delete(s.pools, token)
	s.poolMu.Unlock()
}

// lookupPool returns the live session with this token, if the client
// presenting it has the same certificate.
func (s *Server) lookupPool(token, owner string) *serverSession {
	s.poolMu.Lock()
	defer s.poolMu.Unlock()
	ss := s.pools[token]
	if ss == nil || ss.owner != owner || owner == "" {
		return nil
	}
	return ss
}

// joinPool serves a pool connection: after a Join with the token of a
// live session of the same client, its data and range streams belong to
// that session, until either ends. Anyone else gets the same refusal, so
// a token cannot be probed.
func (ss *serverSession) joinPool(ctx context.Context, m *wire.Join, str *quic.Stream) error {
	parent := ss.srv.lookupPool(string(m.Token), ss.owner)
	if parent == nil || m.Version != wire.Version {
		ss.cmd.send(&wire.Reject{Code: CodeUnknownTransfer, Msg: "no such session for this client"})
		lingerAfterReject(str)
		return protocolErrorf(CodeUnknownTransfer, "join: no such session")
	}
	str.SetReadDeadline(time.Time{})
	cfg := ss.srv.cfg
	// The member token names this connection in a later Drop.
	tok := make([]byte, 8)
	rand.Read(tok)
	parent.mu.Lock()
	parent.members[string(tok)] = ss.conn
	parent.mu.Unlock()
	defer func() {
		parent.mu.Lock()
		delete(parent.members, string(tok))
		parent.mu.Unlock()
	}()
	if err := ss.cmd.send(&wire.Welcome{Version: wire.Version, MaxTransfers: uint64(cfg.MaxTransfers), Token: tok, Software: cfg.Software}); err != nil {
		return err
	}
	parent.log.Debug().Str("peer", ss.conn.RemoteAddr().String()).Msg("pool connection joined")
	mem := &member{conn: ss.conn}
	parent.lanes.add(mem)
	defer parent.lanes.remove(mem)
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(parent.ctx, cancel)
	defer stop()
	var wg sync.WaitGroup
	parent.acceptDataStreams(pctx, ss.conn, &wg)
	cancel()
	wg.Wait()
	return nil
}

// putStriped answers a Put with FlagStriped: prepare the .part at full
// size, tell the client which ranges it already holds, and assemble the
// file from range streams of any connection of the session.
func (ss *serverSession) putStriped(m *wire.Put, t *Transfer, tctx context.Context, cancel context.CancelCauseFunc, meta fileMeta) error {
	p := t.Path
	sr, have, err := openStripe(ss.srv.root, p, meta, m.Flags&wire.FlagNoResume != 0)
	if err != nil {
		ss.srv.table.remove(t, p)
		cancel(nil)
		return err
	}
	id := m.ID
	sr.progress = t.addBytes
	sr.ack = func(r wire.Range) { ss.cmd.send(&wire.Ack{ID: id, Offset: r.Offset, Length: r.Length}) }
	x := &serverXfer{t: t, ctx: tctx, meta: meta, taken: true, stripe: sr}
	t.mu.Lock()
	t.stop = func(e *Error) { ss.abort(id, x, e) }
	t.mu.Unlock()
	ss.mu.Lock()
	ss.active[id] = x
	ss.signalLocked()
	ss.mu.Unlock()
	if len(have) > 0 {
		ss.log.Info().Str("path", p).Int("ranges", len(have)).Msg("offering striped resume")
	}
	serr := ss.cmd.send(&wire.StripeAccept{ID: id, Have: have})
	ss.wg.Go(func() {
		t.setRunning()
		err := sr.wait(tctx)
		done := &wire.Done{ID: id}
		if err != nil {
			e := asError(err, p)
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

// drop closes a pool connection the client has given up on (its ranges
// in flight go to the other connections).
func (ss *serverSession) drop(m *wire.Drop) {
	ss.mu.Lock()
	conn := ss.members[string(m.Token)]
	ss.mu.Unlock()
	if conn != nil {
		ss.log.Debug().Str("peer", conn.RemoteAddr().String()).Msg("pool connection dropped by the client")
		conn.CloseWithError(quic.ApplicationErrorCode(CodeOK), "dropped by the client")
	}
}

// seal hands a striped push its whole-file hash.
func (ss *serverSession) seal(m *wire.Seal) {
	ss.mu.Lock()
	x := ss.active[m.ID]
	ss.mu.Unlock()
	if x != nil && x.stripe != nil {
		x.stripe.setSeal(m.Hash)
	}
}

// forward hands an Ack or the client's Done to the sender of a striped
// pull.
func (ss *serverSession) forward(id uint64, m wire.Message) {
	ss.mu.Lock()
	x := ss.active[id]
	ss.mu.Unlock()
	if x == nil || x.msgs == nil {
		return
	}
	select {
	case x.msgs <- m:
	case <-x.ctx.Done():
	}
}

// stripeGet handles a striped pull: announce the file with FileInfo, then
// send the ranges the client lacks over the session's connections, and
// the seal. The client's Done ends it. A client holding ranges of another
// version of the file is refused with HashMismatch, and starts over.
func (ss *serverSession) stripeGet(ctx context.Context, m *wire.StripeGet) error {
	p, err := cleanPath(m.Path)
	if err != nil {
		return err
	}
	f, meta, err := openSource(ss.srv.root.Open, p, p)
	if err != nil {
		return err
	}
	var have rangeSet
	if m.Flags&wire.FlagNoResume == 0 && len(m.Have) > 0 {
		if meta.Size != m.Size || !meta.MTime.Equal(m.MTime) {
			f.Close()
			return errorf(CodeHashMismatch, p, "the file changed since the partial copy was made")
		}
		var ok bool
		if have, ok = rangeSetOf(m.Have, meta.Size); !ok {
			f.Close()
			return errorf(CodeProtocolViolation, p, "ranges outside the file")
		}
	}
	x, err := ss.registerPull(ctx, m.ID, p, meta, true)
	if err != nil {
		f.Close()
		return err
	}
	t, tctx := x.t, x.ctx
	id := m.ID
	if err := ss.cmd.send(&wire.FileInfo{ID: id, Size: meta.Size, Mode: uint32(meta.Mode), MTime: meta.MTime}); err != nil {
		f.Close()
		return nil // the connection is gone; the session's teardown ends x
	}
	ss.wg.Go(func() {
		defer f.Close()
		t.setRunning()
		sd := &stripeSender{
			id: id, path: p, file: f, meta: meta, lanes: ss.lanes, progress: t.addBytes,
			seal: func(h []byte) error { return ss.cmd.send(&wire.Seal{ID: id, Hash: h}) },
		}
		_, err := sd.run(tctx, have.ranges(), x.msgs, nil)
		if err == nil {
			return // the client's Done ends x
		}
		e := asError(err, p)
		if tctx.Err() == nil {
			ss.cmd.send(&wire.Reject{ID: id, Code: e.Code, Msg: rejectText(e)})
		}
		ss.log.Info().Uint64("id", id).Str("path", p).Stringer("code", e.Code).Str("msg", e.Msg).Msg("pull failed")
		ss.mu.Lock()
		ss.endLocked(id, x, stateFor(e), e)
		ss.mu.Unlock()
	})
	return nil
}

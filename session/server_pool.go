package session

import (
	"context"
	"crypto/rand"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
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
	ss.srv.metrics.poolConnsOpen.Inc()
	defer ss.srv.metrics.poolConnsOpen.Dec()
	mem := &xfer.Member{Conn: ss.conn}
	parent.lanes.Add(mem)
	defer parent.lanes.Remove(mem)
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(parent.conn.Context(), cancel)
	defer stop()
	var wg sync.WaitGroup
	parent.acceptDataStreams(pctx, ss.conn, &wg)
	cancel()
	wg.Wait()
	return nil
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

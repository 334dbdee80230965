package session

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// CheckAdvertise checks a ServerConfig.Advertise: empty, or HOST:PORT
// of at most 270 bytes (wire.MaxJoinAddrLen) with a numeric port.
func CheckAdvertise(addr string) error {
	if addr == "" {
		return nil
	}
	h, p, err := net.SplitHostPort(addr)
	if err == nil && (h == "" || len(addr) > wire.MaxJoinAddrLen) {
		err = errors.New("empty host or too long")
	}
	if err == nil {
		_, err = strconv.ParseUint(p, 10, 16)
	}
	if err != nil {
		return fmt.Errorf("%q: want HOST:PORT (%v)", addr, err)
	}
	return nil
}

// newToken is a session token: the server's instance (8 bytes), then 8
// random bytes (PROTOCOL.md, "Joining").
func (s *Server) newToken() []byte {
	token := make([]byte, 16)
	copy(token, s.instance)
	rand.Read(token[8:])
	return token
}

// elsewhere reports whether token is a session token of another server
// process: a Join that reached the wrong server behind a shared name.
func (s *Server) elsewhere(token []byte) bool {
	return len(token) == 16 && !bytes.Equal(token[:8], s.instance)
}

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
	if parent == nil && m.Version == wire.Version && ss.srv.elsewhere(m.Token) {
		ss.cmd.send(&wire.Reject{Code: CodeWrongServer, Msg: "this session is held by another server (run each server with --advertise)"})
		lingerAfterReject(str)
		return protocolErrorf(CodeWrongServer, "join: a session of another server")
	}
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

package session

import (
	"context"
	"time"

	"github.com/quic-go/quic-go"
)

// drainLinger bounds how long a drained session waits, after the end of
// its command stream, for the client to close the connection before the
// server closes it with CodeShutdown. The Done of the last transfer goes
// out before that end (closing at once could lose it: quic-go sends
// CONNECTION_CLOSE without flushing queued stream data).
const drainLinger = 2 * time.Second

// drainQuiet is how long a draining session's client must have sent no
// request, its transfers ended, before the server ends the session: the
// requests that follow a batch's files (the DirMetas of a push -r, the
// Stat behind them) come within a round trip of the last Done, and are
// answered rather than cut off.
const drainQuiet = time.Second

// drainPoll is how often Shutdown checks whether every session has ended.
const drainPoll = 20 * time.Millisecond

// Shutdown drains the server, as on SIGTERM: from now on a new
// connection is closed with CodeShutdown right after its handshake, a new
// Put or Get is left unanswered (the client runs it again on its next
// connection), and each session ends once it has no transfer left: the
// server ends its command stream after the last verdict, and closes the
// connection with CodeShutdown when the client has not closed it within
// drainLinger. Shutdown returns nil once every connection has ended, or
// ctx's error if ctx ends first. Either way Serve keeps running until its
// own context is cancelled, which closes what is left with CodeShutdown:
// clients keep their partial files and resume on a later connection.
func (s *Server) Shutdown(ctx context.Context) error {
	s.drainOnce.Do(func() { close(s.drain) })
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	for s.live.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// draining reports whether Shutdown has been called.
func (s *Server) draining() bool {
	select {
	case <-s.drain:
		return true
	default:
		return false
	}
}

// closeWhenDrained ends the session once the server drains, the session
// has no transfer left and its client has been quiet for drainQuiet (see
// Shutdown). ctx is the connection's.
func (ss *serverSession) closeWhenDrained(ctx context.Context) {
	select {
	case <-ss.srv.drain:
	case <-ctx.Done():
		return
	}
	for {
		ss.mu.Lock()
		n, ch, idle := len(ss.active)+ss.unsent, ss.changed, time.Since(ss.lastRequest)
		ss.mu.Unlock()
		if n == 0 && idle >= drainQuiet {
			break
		}
		var quiet <-chan time.Time
		if n == 0 {
			quiet = time.After(drainQuiet - idle) // collected once it fires (Go 1.23 timers)
		}
		select {
		case <-ch:
		case <-quiet:
		case <-ctx.Done():
			return
		}
	}
	ss.log.Debug().Msg("drained: ending the session")
	ss.cmd.closeWrite()
	timer := time.NewTimer(drainLinger)
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case <-timer.C:
	}
	ss.conn.CloseWithError(quic.ApplicationErrorCode(CodeShutdown), "server shutting down")
}

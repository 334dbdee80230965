package session

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/qxfer/qxfer/certs"
	"github.com/qxfer/qxfer/quicx"
)

// The helpers of the Session tests (reconnect, migration, pool faults,
// shutdown, soak): a Session dialled by a test, its event log, and what
// a resumed file may have sent twice.

// reconnectQuic notices a dead path and gives up a dial into a dead link
// within two seconds, so that reconnect tests stay short (and not so fast
// that a loaded test machine trips it).
var reconnectQuic = quicx.Config{IdleTimeout: 2 * time.Second, HandshakeTimeout: 2 * time.Second}

// resendSlack bounds the bytes sent twice when a connection dies mid-file:
// those the sender had handed to QUIC but the receiver had not yet
// written, in flight or in its stream buffer. Starting over instead would
// resend everything the receiver had.
const resendSlack = 4 << 20

// eventLog records the events of a Session.
type eventLog struct {
	// mu guards the following fields.
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

// last returns the latest event of kind k.
func (l *eventLog) last(k EventKind) (Event, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.events) - 1; i >= 0; i-- {
		if l.events[i].Kind == k {
			return l.events[i], true
		}
	}
	return Event{}, false
}

func (l *eventLog) count(k EventKind) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e.Kind == k {
			n++
		}
	}
	return n
}

// newTestSession starts a Session whose every connection dials addr as
// identity id with transport settings qc.
func newTestSession(t testing.TB, ts *testServer, id *certs.Identity, addr string, qc quicx.Config, cfg sessionConfig) *Session {
	t.Helper()
	return newPoolSession(t, ts, id, addr, qc, PoolConfig{}, cfg)
}

// newPoolSession is newTestSession with every connection striped over
// pool.
func newPoolSession(t testing.TB, ts *testServer, id *certs.Identity, addr string, qc quicx.Config, pool PoolConfig, cfg sessionConfig) *Session {
	t.Helper()
	dial := func(ctx context.Context, table *Table) (*clientConn, error) {
		cc := clientConfig(t, ts, id, qc, table)
		cc.Pool = pool
		return dialConn(ctx, addr, cc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg.Logger = testLogger(t)
	s, err := newSession(ctx, dial, cfg)
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// sessionPush runs s.Push in a goroutine; the result arrives on the channel.
func sessionPush(ctx context.Context, s *Session, sources []string, opts Options) <-chan pushResult {
	return runAsync(func() (*Report, error) { return s.Push(ctx, sources, ".", opts) })
}

// quickServer is a server that drops a silent connection as soon as the
// client does. quic-go raises a peer's idle timeout to at least 5 s, so a
// short client idle timeout alone makes only the client give up quickly.
func quickServer(t testing.TB) *testServer {
	return serveAt(t, ServerConfig{}, newIdentity(t), "127.0.0.1:0", quicx.Config{IdleTimeout: reconnectQuic.IdleTimeout}, nil)
}

// checkResumed checks that a file cut off mid-body was continued rather
// than started over: in all, the sender moved the file once plus at most
// what was in flight when its connection died. Starting over would resend
// everything the receiver already had.
func checkResumed(t testing.TB, f TransferInfo, size int64) {
	t.Helper()
	resent := f.Bytes - size
	if resent < 0 || resent > resendSlack {
		t.Errorf("%s: got %d bytes sent in all, want %d plus at most %d resent", f.Path, f.Bytes, size, resendSlack)
	}
	t.Logf("%s: sent %d bytes for %d: %d resent (%.2f%%)", f.Path, f.Bytes, size, resent, 100*float64(resent)/float64(size))
}

// sessionTransfer runs a push (from local to the server root) or a pull
// (the other way) of file name on s in a goroutine.
func sessionTransfer(ctx context.Context, s *Session, dir Direction, local, name string) <-chan pushResult {
	return runAsync(func() (*Report, error) {
		if dir == Push {
			return s.Push(ctx, []string{filepath.Join(local, name)}, ".", Options{})
		}
		return s.Pull(ctx, []string{name}, local, Options{})
	})
}

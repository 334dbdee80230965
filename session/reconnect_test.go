package session

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/qxfer/qxfer/certs"
	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/internal/udpproxy"
	"github.com/qxfer/qxfer/quicx"
)

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

// TestReconnectAfterBlackhole cuts the link mid-transfer for longer than
// the client's idle timeout: the Session reconnects by itself once the
// link is back and the file resumes where the receiver's copy ends. In a
// push, either the server has dropped the dead connection by then and
// offers its durable offset, or it still holds the push, which the
// reconnected client (same identity) takes over. In a pull the client
// keeps its own .part.
func TestReconnectAfterBlackhole(t *testing.T) {
	const (
		size = 32 << 20
		name = "big.bin"
		at   = 12 << 20
	)
	tests := []struct {
		name        string
		dir         Direction
		quickServer bool // the server drops a dead connection as fast as the client
		serverFirst bool // keep the link dark until the server has given up a push
	}{
		{name: "push, server gives up first", dir: Push, quickServer: true, serverFirst: true},
		{name: "push, client back first", dir: Push},
		{name: "pull", dir: Pull},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ts *testServer
			if tt.quickServer {
				ts = quickServer(t)
			} else {
				ts = startServer(t, ServerConfig{}, nil)
			}
			p := throttledProxy(t, ts, udpproxy.Config{RateBits: resumeRate})
			events := &eventLog{}
			s := newTestSession(t, ts, newIdentity(t), p.Addr().String(), reconnectQuic, sessionConfig{RetryFor: 30 * time.Second, OnEvent: events.add})
			local, srcDir, dstDir := transferDirs(t, tt.dir, ts)
			data := testutil.WriteRandom(t, filepath.Join(srcDir, name), size)
			m := metaOfFile(t, filepath.Join(srcDir, name))

			res := sessionTransfer(longCtx(t), s, tt.dir, local, name)
			testutil.Eventually(t, hangAfter, "12 MiB at the receiver", func() bool { return received(receiverTable(tt.dir, ts, s.Transfers()), name) >= at })
			p.SetBlackhole(true)
			testutil.Eventually(t, hangAfter, "the session to start reconnecting", func() bool { return events.count(EventReconnecting) > 0 })
			switch {
			case tt.dir == Pull:
				// The client has stopped receiving before it dials.
				checkDurable(t, dstDir, name, m, at)
			case tt.serverFirst:
				testutil.Eventually(t, hangAfter, "the server to drop the dead connection", func() bool { return ts.srv.Transfers().Len() == 0 })
				checkDurable(t, dstDir, name, m, at)
			default:
				if got := ts.srv.Transfers().Len(); got != 1 {
					t.Fatalf("server: got %d live pushes when the link came back, want the old one still there", got)
				}
			}
			if got := events.count(EventReconnected); got != 0 {
				t.Fatalf("got %d reconnections through a blackhole, want 0", got)
			}
			p.SetBlackhole(false)

			f := fileByPath(t, waitPush(t, res, hangAfter), name)
			if f.State != Done {
				t.Fatalf("got state %s (err %v), want done", f.State, f.Err)
			}
			if got := s.Reconnects(); got < 1 {
				t.Errorf("got %d reconnects, want at least 1", got)
			}
			if e, ok := events.last(EventReconnected); !ok {
				t.Errorf("got no reconnected event, want one")
			} else {
				t.Logf("reconnected %s after the connection died (%d dials)", e.Delay.Round(time.Millisecond), events.count(EventReconnecting))
			}
			checkResumed(t, f, size)
			testutil.SameFile(t, filepath.Join(dstDir, name), data)
			sameMeta(t, filepath.Join(dstDir, name), m)
			testutil.NoPartials(t, dstDir)
		})
	}
}

// TestReconnectAfterServerRestart restarts the server in the middle of a
// batch: the files done before the restart are not sent again, the one
// cut off resumes on the new server process.
func TestReconnectAfterServerRestart(t *testing.T) {
	files := []struct {
		name string
		size int
	}{
		{"batch/small-a.bin", 200 << 10},
		{"batch/small-b.bin", 2 << 20},
		{"batch/big.bin", 40 << 20},
	}
	const big = "batch/big.bin"
	ts := startServer(t, ServerConfig{}, nil)
	p := throttledProxy(t, ts, udpproxy.Config{RateBits: resumeRate})
	events := &eventLog{}
	s := newTestSession(t, ts, newIdentity(t), p.Addr().String(), reconnectQuic, sessionConfig{RetryFor: 30 * time.Second, OnEvent: events.add})
	local := t.TempDir()
	data := make(map[string][]byte)
	for _, f := range files {
		data[f.name] = testutil.WriteRandom(t, filepath.Join(local, filepath.FromSlash(f.name)), f.size)
	}
	m := metaOfFile(t, filepath.Join(local, filepath.FromSlash(big)))
	obs := newTransferEvents()

	res := sessionPush(longCtx(t), s, []string{filepath.Join(local, "batch")}, Options{Recursive: true, Observer: obs.observe})
	testutil.Eventually(t, hangAfter, "the small files done and 12 MiB of the big one on the server", func() bool {
		return obs.endInfo(files[0].name).State == Done && obs.endInfo(files[1].name).State == Done && received(ts.srv.Transfers(), big) >= 12<<20
	})
	done := make(map[string]os.FileInfo)
	for _, f := range files[:2] {
		fi, err := os.Stat(filepath.Join(ts.root, filepath.FromSlash(f.name)))
		if err != nil {
			t.Fatal(err)
		}
		done[f.name] = fi
	}
	ts.stop()
	checkDurable(t, ts.root, big, m, 12<<20)
	serveAt(t, ServerConfig{Root: ts.root}, ts.id, ts.addr, quicx.Config{}, nil)

	rep := waitPush(t, res, hangAfter)
	checkReport(t, "push", rep, nil, len(files), Done)
	for _, f := range files[:2] {
		if got := fileByPath(t, rep, f.name).Bytes; got != int64(f.size) {
			t.Errorf("%s: got %d bytes sent, want %d (sent once)", f.name, got, f.size)
		}
		fi, err := os.Stat(filepath.Join(ts.root, filepath.FromSlash(f.name)))
		if err != nil {
			t.Fatal(err)
		}
		if !os.SameFile(done[f.name], fi) {
			t.Errorf("%s: got the file replaced after the restart, want it left alone", f.name)
		}
	}
	if got := s.Reconnects(); got < 1 {
		t.Errorf("got %d reconnects, want at least 1", got)
	}
	checkResumed(t, fileByPath(t, rep, big), int64(m.Size))
	for _, f := range files {
		testutil.SameFile(t, filepath.Join(ts.root, filepath.FromSlash(f.name)), data[f.name])
	}
	testutil.NoPartials(t, ts.root)
}

// TestReconnectGivesUp cuts the link for good: the Session tries for
// RetryFor, then fails the file as lost, keeping the server's partial
// file for a later run.
func TestReconnectGivesUp(t *testing.T) {
	const (
		size     = 40 << 20
		name     = "big.bin"
		retryFor = 2 * time.Second
	)
	ts := quickServer(t)
	p := throttledProxy(t, ts, udpproxy.Config{RateBits: resumeRate})
	events := &eventLog{}
	qc := reconnectQuic
	s := newTestSession(t, ts, newIdentity(t), p.Addr().String(), qc, sessionConfig{RetryFor: retryFor, OnEvent: events.add})
	src := filepath.Join(t.TempDir(), name)
	testutil.WriteRandom(t, src, size)
	m := metaOfFile(t, src)

	res := sessionPush(longCtx(t), s, []string{src}, Options{})
	testutil.Eventually(t, hangAfter, "8 MiB on the server", func() bool { return received(ts.srv.Transfers(), name) >= 8<<20 })
	p.SetBlackhole(true)
	start := time.Now()
	rep := waitPush(t, res, hangAfter)
	// Idle timeout, then RetryFor, then at most one dial's handshake
	// timeout past the deadline, plus scheduling margin.
	if elapsed, limit := time.Since(start), qc.IdleTimeout+retryFor+qc.HandshakeTimeout+4*time.Second; elapsed > limit {
		t.Errorf("push returned %s after the link died, want within %s", elapsed.Round(time.Millisecond), limit)
	}
	f := fileByPath(t, rep, name)
	if f.State != Failed || !errors.Is(f.Err, ErrSessionLost) {
		t.Errorf("got state %s (err %v), want failed with a lost session", f.State, f.Err)
	}
	if got := s.Reconnects(); got != 0 {
		t.Errorf("got %d reconnects through a dead link, want 0", got)
	}
	if events.count(EventReconnecting) == 0 || events.count(EventReconnected) != 0 {
		t.Errorf("got %d reconnecting and %d reconnected events, want some and none", events.count(EventReconnecting), events.count(EventReconnected))
	}
	testutil.Eventually(t, hangAfter, "the server to drop the dead connection", func() bool { return ts.srv.Transfers().Len() == 0 })
	checkDurable(t, ts.root, name, m, 8<<20)
	if _, err := os.Stat(filepath.Join(ts.root, name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("destination: got %v, want it absent after a failed push", err)
	}
}

// TestSessionStats checks that a session's figures cover the connections
// it replaced: after a reconnect the packet counters include the first
// connection's, and Reconnects counts it.
func TestSessionStats(t *testing.T) {
	ts := startServer(t, ServerConfig{}, nil)
	s := newTestSession(t, ts, newIdentity(t), ts.addr, quicx.Config{}, sessionConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	src := t.TempDir()
	testutil.WriteRandom(t, filepath.Join(src, "a"), 1<<20)
	testutil.WriteRandom(t, filepath.Join(src, "b"), 1<<20)
	push := func(name string) {
		t.Helper()
		rep, err := s.Push(ctx, []string{filepath.Join(src, name)}, "up", Options{})
		checkOK(t, "push", rep, err)
	}

	push("a")
	first := s.Stats()
	if first.PacketsSent < 1<<20/1500 {
		t.Errorf("after 1 MiB: got %d packets sent, want at least %d", first.PacketsSent, 1<<20/1500)
	}
	if first.SmoothedRTT <= 0 {
		t.Errorf("got smoothed RTT %v, want > 0", first.SmoothedRTT)
	}
	if first.Reconnects != 0 {
		t.Errorf("got %d reconnects, want 0", first.Reconnects)
	}

	old := s.live()
	old.Close() // the next request reconnects
	push("b")
	if s.live() == old {
		t.Fatal("the session did not reconnect")
	}
	second := s.Stats()
	cur := s.live().Stats()
	if second.Reconnects != 1 {
		t.Errorf("got %d reconnects, want 1", second.Reconnects)
	}
	if second.PacketsSent < first.PacketsSent+cur.PacketsSent {
		t.Errorf("got %d packets sent, want at least %d (first connection) + %d (current)", second.PacketsSent, first.PacketsSent, cur.PacketsSent)
	}
	if second.BytesSent < 2<<20 {
		t.Errorf("got %d bytes sent over both connections, want at least %d", second.BytesSent, 2<<20)
	}
}

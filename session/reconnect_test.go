package session

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/internal/udpproxy"
	"github.com/qxfer/qxfer/quicx"
)

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

// pathChange is one way a connection's path changes under a transfer.
type pathChange struct {
	name string
	// change moves the path of s's connection through p.
	change func(t *testing.T, s *Session, p *udpproxy.Proxy)
	// migrations is what the client's Migrations counts afterwards.
	migrations int
}

var pathChanges = []pathChange{
	{
		// A NAT in front of the client gives it a new public port: the
		// server sees the client's packets arrive from a new address.
		name: "nat rebinding",
		change: func(t *testing.T, s *Session, p *udpproxy.Proxy) {
			if err := p.Rebind(); err != nil {
				t.Fatalf("rebind: %v", err)
			}
			if got := p.Stats().Rebinds; got != 1 {
				t.Fatalf("proxy: got %d rebinds, want 1", got)
			}
		},
	},
	{
		// The client moves its connection to a new socket itself, as
		// its route watcher does when the network changes.
		name: "client migration",
		change: func(t *testing.T, s *Session, p *udpproxy.Proxy) {
			c := s.live()
			before := c.conn.LocalUDPAddr()
			if err := c.Migrate(longCtx(t), "127.0.0.1:0"); err != nil {
				t.Fatalf("migrate: %v", err)
			}
			if after := c.conn.LocalUDPAddr(); after.String() == before.String() {
				t.Fatalf("migrate: still on %s, want a new socket", after)
			}
		},
		migrations: 1,
	},
}

// TestPathChange changes the network path of a connection in the middle
// of a push and of a pull: the transfer carries on over the same
// connection, with no reconnect, and every byte is sent exactly once.
// Nothing is left running afterwards.
func TestPathChange(t *testing.T) {
	const (
		size = 32 << 20
		name = "big.bin"
		at   = 8 << 20
	)
	for _, pc := range pathChanges {
		for _, dir := range []Direction{Push, Pull} {
			t.Run(pc.name+"/"+dir.String(), func(t *testing.T) {
				base := runtime.NumGoroutine()
				ts := startServer(t, ServerConfig{}, nil)
				p := throttledProxy(t, ts, udpproxy.Config{RateBits: resumeRate})
				events := &eventLog{}
				// The short idle timeout turns a path the
				// connection cannot use into a reconnect, which
				// the test would see.
				s := newTestSession(t, ts, newIdentity(t), p.Addr().String(), reconnectQuic, sessionConfig{OnEvent: events.add})
				local, srcDir, dstDir := transferDirs(t, dir, ts)
				data := testutil.WriteRandom(t, filepath.Join(srcDir, name), size)

				res := sessionTransfer(longCtx(t), s, dir, local, name)
				tb := receiverTable(dir, ts, s.Transfers())
				testutil.Eventually(t, hangAfter, "8 MiB at the receiver", func() bool { return received(tb, name) >= at })
				pc.change(t, s, p)
				if got := received(tb, name); got == 0 || got >= size {
					t.Fatalf("the transfer was over (%d bytes received) when the path changed; slow the proxy down", got)
				}

				f := fileByPath(t, waitPush(t, res, hangAfter), name)
				if f.State != Done {
					t.Fatalf("got state %s (err %v), want done", f.State, f.Err)
				}
				if f.Bytes != size {
					t.Errorf("got %d bytes moved, want %d (each byte once)", f.Bytes, size)
				}
				if got := s.Reconnects(); got != 0 {
					t.Errorf("got %d reconnects, want 0", got)
				}
				if got := events.count(EventReconnecting); got != 0 {
					t.Errorf("got %d reconnecting events, want 0", got)
				}
				if got := s.live().Migrations(); got != pc.migrations {
					t.Errorf("got %d migrations, want %d", got, pc.migrations)
				}
				testutil.SameFile(t, filepath.Join(dstDir, name), data)
				testutil.NoPartials(t, dstDir)

				ts.stopAll(t, base, s, p)
			})
		}
	}
}

// TestRouteChange drives the client's route watcher: when the local
// address that routes to the server changes, the live connection moves to
// a socket on the new address and the push goes on; when the new address
// cannot be used (the host does not have it), the session falls back to
// reconnecting and resumes the file.
func TestRouteChange(t *testing.T) {
	const (
		size = 32 << 20
		name = "route.bin"
	)
	for _, tt := range testutil.RouteChanges(t) {
		t.Run(tt.Name, func(t *testing.T) {
			ts := startServer(t, ServerConfig{}, nil)
			p := throttledProxy(t, ts, udpproxy.Config{RateBits: resumeRate})
			route := testutil.NewRoute(net.IPv4(127, 0, 0, 1))
			events := &eventLog{}
			id := newIdentity(t)
			dial := func(ctx context.Context, table *Table) (*clientConn, error) {
				cfg := clientConfig(t, ts, id, reconnectQuic, table)
				cfg.WatchRoute, cfg.RouteSource, cfg.OnEvent = 20*time.Millisecond, route.Source, events.add
				return dialConn(ctx, p.Addr().String(), cfg)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := newSession(ctx, dial, sessionConfig{OnEvent: events.add, Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			src := t.TempDir()
			data := testutil.WriteRandom(t, filepath.Join(src, name), size)
			res := sessionTransfer(longCtx(t), s, Push, src, name)
			testutil.Eventually(t, hangAfter, "8 MiB on the server", func() bool { return received(ts.srv.Transfers(), name) >= 8<<20 })
			route.Set(tt.To)

			f := fileByPath(t, waitPush(t, res, hangAfter), name)
			if f.State != Done {
				t.Fatalf("got state %s (err %v), want done", f.State, f.Err)
			}
			testutil.SameFile(t, filepath.Join(ts.root, name), data)
			if tt.Unusable {
				if events.count(EventMigrationFailed) == 0 || s.Reconnects() == 0 {
					t.Errorf("got %d failed migrations and %d reconnects, want at least one of each", events.count(EventMigrationFailed), s.Reconnects())
				}
				if f.Bytes >= size+size/2 {
					t.Errorf("got %d bytes moved for a %d-byte file: not resumed", f.Bytes, size)
				}
				return
			}
			if got := events.count(EventMigrated); got != 1 {
				t.Errorf("got %d migrated events, want 1", got)
			}
			if got := s.Reconnects(); got != 0 {
				t.Errorf("got %d reconnects, want 0", got)
			}
			if f.Bytes != size {
				t.Errorf("got %d bytes moved, want %d (each byte once)", f.Bytes, size)
			}
		})
	}
}

// TestPoolMigrate moves a pooled client to new sockets in the middle of a
// push: every connection of the pool migrates, none is lost, and every
// byte is sent once.
func TestPoolMigrate(t *testing.T) {
	const size, name = poolFileSize, poolFile
	base := runtime.NumGoroutine()
	ts := startServer(t, ServerConfig{}, nil)
	p := throttledProxy(t, ts, udpproxy.Config{RateBits: poolRate})
	c := dialPool(t, ts, p.Addr().String(), PoolConfig{Size: 3})
	src := t.TempDir()
	data := testutil.WriteRandom(t, filepath.Join(src, name), size)

	res := transferAsync(longCtx(t), c, transferOf(Push, src, name, Options{}))
	testutil.Eventually(t, hangAfter, "a quarter of the file on the server", func() bool { return liveBytes(ts.srv.Transfers(), name) >= size/4 })
	members := poolMembers(c)
	if len(members) != 2 {
		t.Fatalf("pool: got %d connections besides the primary, want 2", len(members))
	}
	conns := append([]*quicx.Conn{c.conn}, members[0].Conn.(*quicx.Conn), members[1].Conn.(*quicx.Conn))
	before := make([]string, len(conns))
	for i, qc := range conns {
		before[i] = qc.LocalUDPAddr().String()
	}
	if err := c.Migrate(longCtx(t), "127.0.0.1:0"); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if got := liveBytes(ts.srv.Transfers(), name); got >= size {
		t.Fatalf("the push was over (%d bytes) when the pool migrated; slow the proxy down", got)
	}
	for i, qc := range conns {
		if got := qc.Migrations(); got != 1 {
			t.Errorf("connection %d: got %d migrations, want 1", i, got)
		}
		if after := qc.LocalUDPAddr().String(); after == before[i] {
			t.Errorf("connection %d: still on %s, want a new socket", i, after)
		}
	}

	f := fileByPath(t, waitPush(t, res, hangAfter), name)
	if f.State != Done {
		t.Fatalf("got state %s (err %v), want done", f.State, f.Err)
	}
	if f.Bytes != size {
		t.Errorf("got %d bytes sent, want %d (each byte once: no connection was lost)", f.Bytes, size)
	}
	if err := c.Err(); err != nil {
		t.Errorf("session: got %v, want it alive", err)
	}
	if got := c.PoolSize(); got != 3 {
		t.Errorf("pool size after the migration: got %d, want 3", got)
	}
	testutil.SameFile(t, filepath.Join(ts.root, name), data)
	testutil.NoPartials(t, ts.root)

	ts.stopAll(t, base, c, p)
}

package session

import (
	"context"
	"net"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/internal/udpproxy"
	"github.com/qxfer/qxfer/quicx"
)

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

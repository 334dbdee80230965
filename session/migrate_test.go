package session

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/qxfer/qxfer/internal/udpproxy"
)

// sessionTransfer runs a push (from local to the server root) or a pull
// (the other way) of file name on s in a goroutine.
func sessionTransfer(ctx context.Context, s *Session, dir Direction, local, name string) <-chan pushResult {
	res := make(chan pushResult, 1)
	go func() {
		var r pushResult
		if dir == Push {
			r.rep, r.err = s.Push(ctx, []string{filepath.Join(local, name)}, ".", Options{})
		} else {
			r.rep, r.err = s.Pull(ctx, []string{name}, local, Options{})
		}
		res <- r
	}()
	return res
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
			c := s.Client()
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
				s := newTestSession(t, ts, newIdentity(t), p.Addr().String(), reconnectQuic, SessionConfig{OnEvent: events.add})
				local := t.TempDir()
				srcDir, dstDir := receiverDirs(dir, ts, local)
				data := writeRandom(t, filepath.Join(srcDir, name), size)

				res := sessionTransfer(longCtx(t), s, dir, local, name)
				pollCond(t, hangAfter, "8 MiB at the receiver", func() bool { return partSize(dstDir, name) >= at })
				pc.change(t, s, p)
				if got := partSize(dstDir, name); got == 0 || got >= size {
					t.Fatalf("the transfer was over (.part holds %d bytes) when the path changed; slow the proxy down", got)
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
				if got := s.Client().Migrations(); got != pc.migrations {
					t.Errorf("got %d migrations, want %d", got, pc.migrations)
				}
				sameFile(t, filepath.Join(dstDir, name), data)
				noPartials(t, dstDir)

				s.Close()
				p.Close()
				ts.stop()
				checkGoroutines(t, base)
			})
		}
	}
}

package session

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/qxfer/qxfer/certs"
	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/internal/udpproxy"
	"github.com/qxfer/qxfer/quicx"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// dialPool connects a new client identity to addr (the server or a proxy)
// with a connection pool.
func dialPool(t testing.TB, ts *testServer, addr string, pc PoolConfig) *clientConn {
	t.Helper()
	return dialPoolAs(t, ts, newIdentity(t), addr, pc)
}

// dialPoolAs is dialPool as identity id.
func dialPoolAs(t testing.TB, ts *testServer, id *certs.Identity, addr string, pc PoolConfig) *clientConn {
	t.Helper()
	if addr == "" {
		addr = ts.addr
	}
	cfg := clientConfig(t, ts, id, quicx.Config{}, nil)
	cfg.Pool = pc
	return dialWith(t, addr, cfg)
}

// lossyProxy puts delay and random loss between the client and ts.
func lossyProxy(t testing.TB, ts *testServer, delay time.Duration, loss float64, rateBits int64) *udpproxy.Proxy {
	t.Helper()
	p, err := udpproxy.New(udpproxy.Config{
		Server: ts.ln.Addr(), Delay: delay, Loss: loss, RateBits: rateBits, Seed: 7,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// poolRate is the link rate of the pool failure tests: 80 Mbit/s moves
// 24 MiB in about 2.5 s, time enough to break something in the middle of
// a file by polling its progress.
const poolRate = 80e6

// poolFile of poolFileSize bytes is the file the pool failure tests move:
// about 2.5 s at poolRate.
const (
	poolFile     = "big.bin"
	poolFileSize = 24 << 20
)

// poolMembers returns the pool connections of c (not the primary).
func poolMembers(c *clientConn) []*xfer.Member {
	c.pool.mu.Lock()
	defer c.pool.mu.Unlock()
	return append([]*xfer.Member(nil), c.pool.members...)
}

// busyLanes counts the lanes taken on the connections of l.
func busyLanes(l *xfer.Lanes) int { return l.Busy() }

// serverSessionOf returns the server side of c's session.
func serverSessionOf(t testing.TB, ts *testServer, c *clientConn) *serverSession {
	t.Helper()
	ts.srv.poolMu.Lock()
	defer ts.srv.poolMu.Unlock()
	ss := ts.srv.pools[string(c.welcome.Token)]
	if ss == nil {
		t.Fatalf("server: no session with the client's token")
	}
	return ss
}

// liveBytes returns the bytes moved so far by the live transfer of path
// in tb, or -1 if there is none.
func liveBytes(tb *Table, path string) int64 {
	if i, ok := liveInfo(tb, func(i TransferInfo) bool { return i.Path == path }); ok {
		return i.Bytes
	}
	return -1
}

// transferAsync runs f on c in a goroutine; the result arrives on the
// channel.
func transferAsync(ctx context.Context, c *clientConn, f transferFunc) <-chan pushResult {
	return runAsync(func() (*Report, error) { return f(ctx, c) })
}

// TestPoolPushPull stripes a large file and a tree of small ones over a
// pool of four connections through a lossy link, both ways: everything
// arrives byte-identical, the server served the pool as one session, and
// nothing is left behind.
func TestPoolPushPull(t *testing.T) {
	base := runtime.NumGoroutine()
	ts := startServer(t, ServerConfig{}, nil)
	p := lossyProxy(t, ts, 5*time.Millisecond, 0.01, 0)
	src := t.TempDir()
	want := map[string][]byte{"big.bin": testutil.WriteRandom(t, filepath.Join(src, "big.bin"), 24<<20+12345)}
	for i := range 30 {
		name := fmt.Sprintf("tree/f%02d", i)
		want[name] = testutil.WriteRandom(t, filepath.Join(src, name), i*1000)
	}
	c := dialPool(t, ts, p.Addr().String(), PoolConfig{Size: 4})
	if got := c.PoolSize(); got != 4 {
		t.Fatalf("pool size %d, want 4", got)
	}
	if got := ts.srv.Sessions(); got != 4 {
		t.Errorf("server counts %d connections, want 4", got)
	}
	ctx := longCtx(t)
	rep, err := c.Push(ctx, []string{filepath.Join(src, "big.bin"), filepath.Join(src, "tree")}, "up", Options{Recursive: true})
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	if n := rep.Count(Done); n != len(want) {
		t.Fatalf("push: %d files done, want %d: %v", n, len(want), rep.Files)
	}
	for name, b := range want {
		testutil.SameFile(t, filepath.Join(ts.root, "up", name), b)
	}
	testutil.NoPartials(t, ts.root)
	// Every connection carried ranges.
	for _, m := range c.lanes.Live() {
		if st := m.Conn.ConnectionStats(); st.BytesSent < 1<<20 {
			t.Errorf("a pool connection sent only %d bytes", st.BytesSent)
		}
	}

	dst := t.TempDir()
	rep, err = c.Pull(ctx, []string{"up"}, dst, Options{Recursive: true})
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	if n := rep.Count(Done); n != len(want) {
		t.Fatalf("pull: %d files done, want %d", n, len(want))
	}
	for name, b := range want {
		testutil.SameFile(t, filepath.Join(dst, "up", name), b)
	}
	testutil.NoPartials(t, dst)
	ts.stopAll(t, base, c, p)
}

// TestPoolJoinRefused: a pool connection needs the token of a live
// session of the same client certificate.
func TestPoolJoinRefused(t *testing.T) {
	ts := startServer(t, ServerConfig{}, nil)
	ownerID := newIdentity(t)
	owner := dialPoolAs(t, ts, ownerID, "", PoolConfig{Size: 2})
	tests := []struct {
		name  string
		token func() []byte
		other bool // join as another client
	}{
		// A token of this server (its instance, PROTOCOL.md "Joining")
		// that no session holds; a token of another instance is
		// wrong_server (TestAdvertiseJoins).
		{"unknown token", func() []byte {
			return append(slices.Clone(owner.welcome.Token[:8]), "89abcdef"...)
		}, false},
		{"empty token", func() []byte { return nil }, false},
		{"another client's session", func() []byte { return owner.welcome.Token }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := ownerID
			c := owner
			token := tc.token()
			if tc.other {
				id = newIdentity(t)
				c = dialAs(t, ts, id, ts.addr, quicx.Config{})
			}
			// c joins with the token under test.
			saved := c.welcome.Token
			c.welcome.Token = token
			defer func() { c.welcome.Token = saved }()
			pc := &pool{c: c, addr: ts.addr, tls: quicx.ClientTLS(id, ALPN, "qxfer", func(certs.Fingerprint) error { return nil }), cfg: clientConfig(t, ts, id, quicx.Config{}, nil)}
			err := pc.join(longCtx(t))
			if codeOfErr(err) != CodeUnknownTransfer {
				t.Fatalf("join: %v, want unknown_transfer", err)
			}
		})
	}
	// The owner's session still works.
	if _, err := owner.List(longCtx(t), "."); err != nil {
		t.Fatalf("list after refused joins: %v", err)
	}
}

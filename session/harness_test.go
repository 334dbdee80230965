package session

import (
	"context"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/qxfer/qxfer/certs"
	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/internal/udpproxy"
	"github.com/qxfer/qxfer/quicx"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// The helpers shared with the other packages' tests (random files,
// Eventually, the leak check, tmpfs mounts) are in internal/testutil.

// testServer is a real qxfer server on a loopback UDP socket.
type testServer struct {
	srv  *Server
	ln   *quicx.Listener
	root string
	id   *certs.Identity
	addr string
	stop func()
}

// testLogger logs to the test's output when QXFER_TEST_LOG is set, and
// nowhere otherwise.
func testLogger(t testing.TB) zerolog.Logger {
	if os.Getenv("QXFER_TEST_LOG") != "" {
		return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel)
	}
	return zerolog.Nop()
}

// newIdentity returns a fresh identity.
func newIdentity(t testing.TB) *certs.Identity {
	t.Helper()
	id, err := certs.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// startServer serves cfg.Root (a fresh temporary directory if empty) on
// a loopback port with a fresh identity; authorize decides which client
// fingerprints may connect (nil: any).
func startServer(t testing.TB, cfg ServerConfig, authorize func(certs.Fingerprint) error) *testServer {
	t.Helper()
	return serveAt(t, cfg, newIdentity(t), "127.0.0.1:0", quicx.Config{}, authorize)
}

// startWithClient starts a server of a fresh temporary root and
// connects a client to it.
func startWithClient(t testing.TB) (*testServer, *clientConn) {
	t.Helper()
	ts := startServer(t, ServerConfig{}, nil)
	return ts, ts.dial(t, "")
}

// serveAt serves cfg.Root (a fresh temporary directory if empty) on addr
// with identity id and server transport settings qc, until the test ends
// or ts.stop is called; authorize decides which client fingerprints may
// connect (nil: any). cfg.Logger is replaced by testLogger.
func serveAt(t testing.TB, cfg ServerConfig, id *certs.Identity, addr string, qc quicx.Config, authorize func(certs.Fingerprint) error) *testServer {
	t.Helper()
	if cfg.Root == "" {
		cfg.Root = t.TempDir()
	}
	cfg.Logger = testLogger(t)
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if authorize == nil {
		authorize = func(certs.Fingerprint) error { return nil }
	}
	ln, err := quicx.Listen(addr, quicx.ServerTLS(id, ALPN, authorize), qc, zerolog.Nop())
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(ctx, ln); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	ts := &testServer{srv: srv, ln: ln, root: cfg.Root, id: id, addr: ln.Addr().String()}
	var once sync.Once
	ts.stop = func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			ln.Close()
			srv.Close()
		})
	}
	t.Cleanup(ts.stop)
	return ts
}

// stopAll closes cs in order (clients or sessions, then proxies), stops
// ts, and fails the test if more goroutines than base, counted at its
// start, outlive them all.
func (ts *testServer) stopAll(t testing.TB, base int, cs ...io.Closer) {
	t.Helper()
	for _, c := range cs {
		c.Close()
	}
	ts.stop()
	testutil.CheckGoroutines(t, base)
}

// dial connects a new client identity to ts (or to addr, e.g. a proxy).
func (ts *testServer) dial(t testing.TB, addr string) *clientConn {
	t.Helper()
	if addr == "" {
		addr = ts.addr
	}
	return dialWith(t, addr, ClientConfig{Identity: newIdentity(t), Fingerprint: ts.id.Fingerprint, Logger: testLogger(t)})
}

// codeOfErr is the code of the *Error in err, or 0xffff if there is none.
func codeOfErr(err error) ErrorCode {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ErrorCode(0xffff)
}

// fileError returns the *Error a report entry failed with.
func fileError(t testing.TB, f TransferInfo) *Error {
	t.Helper()
	var e *Error
	if !errors.As(f.Err, &e) {
		t.Fatalf("%s: got error %v (%T), want a *session.Error", f.Path, f.Err, f.Err)
	}
	return e
}

// testCtx is the context of a test's short requests and transfers: it
// ends after 20 s, or when the test does.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// hangAfter bounds waits that only guard against a hang: generous, since a
// loaded machine (or -race) can run these transfers several times slower
// than the link allows.
const hangAfter = time.Minute

// longCtx is the context of one transfer of a test.
func longCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*hangAfter)
	t.Cleanup(cancel)
	return ctx
}

// clientConfig is the configuration of a test client with identity id:
// the same identity on every connection is what lets the server tell a
// reconnecting client from another one.
func clientConfig(t testing.TB, ts *testServer, id *certs.Identity, qc quicx.Config, table *Table) ClientConfig {
	return ClientConfig{Identity: id, Fingerprint: ts.id.Fingerprint, Quic: qc, Table: table, WatchRoute: -1, Logger: testLogger(t)}
}

// dialAs connects to addr (the server or a proxy) as identity id.
func dialAs(t testing.TB, ts *testServer, id *certs.Identity, addr string, qc quicx.Config) *clientConn {
	t.Helper()
	return dialWith(t, addr, clientConfig(t, ts, id, qc, nil))
}

// dialWith connects to addr with cfg; the client is closed when the test
// ends.
func dialWith(t testing.TB, addr string, cfg ClientConfig) *clientConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dialConn(ctx, addr, cfg)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// transferFunc runs one push or pull on c.
type transferFunc func(ctx context.Context, c *clientConn) (*Report, error)

// transferOf moves file name from the sender's directory to the
// receiver's: a push from local to the server root, a pull the other way.
func transferOf(dir Direction, local, name string, opts Options) transferFunc {
	if dir == Push {
		return func(ctx context.Context, c *clientConn) (*Report, error) {
			return c.Push(ctx, []string{filepath.Join(local, name)}, ".", opts)
		}
	}
	return func(ctx context.Context, c *clientConn) (*Report, error) {
		return c.Pull(ctx, []string{name}, local, opts)
	}
}

// transferDirs makes the client's directory of a transfer in dir and
// returns it, where the source of the transfer lives and where the
// receiver writes.
func transferDirs(t testing.TB, dir Direction, ts *testServer) (local, src, dst string) {
	local = t.TempDir()
	if dir == Push {
		return local, local, ts.root
	}
	return local, ts.root, local
}

// treeDirs is transferDirs for a transfer of the directory "tree": the
// client's directory, the tree at the source and the tree at the
// destination (local/tree and the server's root/tree, swapped for a pull).
func treeDirs(t testing.TB, dir Direction, ts *testServer) (local, src, dst string) {
	local, from, to := transferDirs(t, dir, ts)
	return local, filepath.Join(from, "tree"), filepath.Join(to, "tree")
}

// onlyFile runs f and returns the single file of its report.
func onlyFile(t testing.TB, what string, f transferFunc, c *clientConn) TransferInfo {
	t.Helper()
	rep, err := f(longCtx(t), c)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if len(rep.Files) != 1 {
		t.Fatalf("%s: got %d files in the report, want 1", what, len(rep.Files))
	}
	return rep.Files[0]
}

// received returns the bytes the receiver of name has written so far in
// its live transfer in tb (0 when there is none): the receiver's .part is
// preallocated at full size, so its length says nothing.
func received(tb *Table, name string) int64 {
	for _, i := range tb.Snapshot() {
		if i.Path == name || filepath.Base(i.Local) == name || path.Base(i.Path) == path.Base(name) {
			return i.Bytes
		}
	}
	return 0
}

// receiverTable is the table of the receiving side: the server's for a
// push, the client's for a pull.
func receiverTable(dir Direction, ts *testServer, client *Table) *Table {
	if dir == Push {
		return ts.srv.Transfers()
	}
	return client
}

// metaOfFile is the metadata a sender offers for the file at p.
func metaOfFile(t testing.TB, p string) xfer.FileMeta {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return xfer.MetaOf(fi)
}

// sameMeta checks that the received file p has the source's mtime.
func sameMeta(t testing.TB, p string, m xfer.FileMeta) {
	t.Helper()
	if got := metaOfFile(t, p); !got.MTime.Equal(m.MTime) || got.Size != m.Size {
		t.Errorf("%s: got size %d mtime %v, want %d and %v", p, got.Size, got.MTime, m.Size, m.MTime)
	}
}

// throttledProxy starts a udpproxy in front of ts with the link described
// by cfg (cfg.Server is filled in) and closes it when the test ends.
func throttledProxy(t testing.TB, ts *testServer, cfg udpproxy.Config) *udpproxy.Proxy {
	t.Helper()
	cfg.Server = ts.ln.Addr()
	p, err := udpproxy.New(cfg)
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// pushResult is what a push or pull run in a goroutine returned.
type pushResult struct {
	rep *Report
	err error
}

// runAsync runs f, a push or a pull, in a goroutine; its result arrives
// on the channel.
func runAsync(f func() (*Report, error)) <-chan pushResult {
	res := make(chan pushResult, 1)
	go func() {
		rep, err := f()
		res <- pushResult{rep, err}
	}()
	return res
}

// pushAsync runs c.Push in a goroutine; the result arrives on the channel.
func pushAsync(ctx context.Context, c *clientConn, sources []string, remoteDir string, opts Options) <-chan pushResult {
	return runAsync(func() (*Report, error) { return c.Push(ctx, sources, remoteDir, opts) })
}

// waitPush waits up to timeout for the result of a push or pull run by
// runAsync, and fails the test if there is none or it is an error.
func waitPush(t testing.TB, res <-chan pushResult, timeout time.Duration) *Report {
	t.Helper()
	select {
	case r := <-res:
		if r.err != nil {
			t.Fatalf("push: %v", r.err)
		}
		return r.rep
	case <-time.After(timeout):
		t.Fatalf("push did not return within %s", timeout)
	}
	return nil
}

// liveInfo returns the live transfer of tb matching match.
func liveInfo(tb *Table, match func(TransferInfo) bool) (TransferInfo, bool) {
	for _, i := range tb.Snapshot() {
		if match(i) {
			return i, true
		}
	}
	return TransferInfo{}, false
}

// fileByPath returns the report entry for remote path p.
func fileByPath(t testing.TB, rep *Report, p string) TransferInfo {
	t.Helper()
	for _, f := range rep.Files {
		if f.Path == p {
			return f
		}
	}
	t.Fatalf("no report entry for %s in %+v", p, rep.Files)
	return TransferInfo{}
}

// Push, PushFile, Pull and PullFile run one batch as the Session's
// methods of those names do, on c alone: a transfer cut off by the loss
// of c fails instead of resuming on a new connection.
func (c *clientConn) Push(ctx context.Context, sources []string, remoteDir string, opts Options) (*Report, error) {
	return push(sources, remoteDir, opts).run(ctx, c, c)
}

func (c *clientConn) PushFile(ctx context.Context, local, remotePath string, opts Options) (*Report, error) {
	return pushFile(local, remotePath, opts).run(ctx, c, c)
}

func (c *clientConn) Pull(ctx context.Context, sources []string, localDir string, opts Options) (*Report, error) {
	return pull(sources, localDir, "", opts).run(ctx, c, c)
}

func (c *clientConn) PullFile(ctx context.Context, remotePath, localPath string, opts Options) (*Report, error) {
	dir, name := splitLocal(localPath)
	return pull([]string{remotePath}, dir, name, opts).run(ctx, c, c)
}

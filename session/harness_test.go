package session

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/qxfer/qxfer/certs"
	"github.com/qxfer/qxfer/quicx"
)

// testServer is a real qxfer server on a loopback UDP socket.
type testServer struct {
	srv  *Server
	ln   *quicx.Listener
	root string
	id   *certs.Identity
	addr string
	stop func()
}

func testLogger(t testing.TB) zerolog.Logger {
	if os.Getenv("QXFER_TEST_LOG") != "" {
		return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel)
	}
	return zerolog.Nop()
}

// startServer serves a fresh temporary root; authorize decides which
// client fingerprints may connect (nil: any).
func startServer(t testing.TB, cfg ServerConfig, authorize func(certs.Fingerprint) error) *testServer {
	t.Helper()
	id, err := certs.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Root == "" {
		cfg.Root = t.TempDir()
	}
	if cfg.Logger.GetLevel() == zerolog.DebugLevel || true {
		cfg.Logger = testLogger(t)
	}
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if authorize == nil {
		authorize = func(certs.Fingerprint) error { return nil }
	}
	ln, err := quicx.Listen("127.0.0.1:0", quicx.ServerTLS(id, ALPN, authorize), quicx.Config{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, srv, ln, cfg.Root, id)
}

// serveOn runs srv on ln until the test ends or ts.stop is called.
func serveOn(t testing.TB, srv *Server, ln *quicx.Listener, root string, id *certs.Identity) *testServer {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(ctx, ln); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	ts := &testServer{srv: srv, ln: ln, root: root, id: id, addr: ln.Addr().String()}
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

// dial connects a new client identity to ts (or to addr, e.g. a proxy).
func (ts *testServer) dial(t testing.TB, addr string) *Client {
	t.Helper()
	id, err := certs.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	if addr == "" {
		addr = ts.addr
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, addr, ClientConfig{Identity: id, Fingerprint: ts.id.Fingerprint, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func writeRandom(t testing.TB, path string, size int) []byte {
	t.Helper()
	b := make([]byte, size)
	rand.Read(b)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

func sameFile(t testing.TB, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: got %d bytes, want %d identical bytes", path, len(got), len(want))
	}
}

// noParts fails if any .qxfer.part file is left under dir.
func noParts(t testing.TB, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && filepath.Ext(p) == ".part" {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})
}

// checkGoroutines waits for the goroutine count to come back to base.
func checkGoroutines(t testing.TB, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("goroutines: got %d, want <= %d\n%s", runtime.NumGoroutine(), base, buf[:n])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func codeOfErr(err error) ErrorCode {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ErrorCode(0xffff)
}

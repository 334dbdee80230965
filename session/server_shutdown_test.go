package session

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/internal/udpproxy"
	"github.com/qxfer/qxfer/quicx"
)

// shutdownRig is a server behind a slow link and a reconnecting Session
// pushing a batch to it, stopped in the middle of its big file.
type shutdownRig struct {
	ts    *testServer
	s     *Session
	local string
	data  map[string][]byte
	res   <-chan pushResult
}

const (
	shutdownBig  = "batch/big.bin"
	shutdownSize = 24 << 20
)

func startShutdownRig(t *testing.T) shutdownRig {
	ts := startServer(t, ServerConfig{}, nil)
	p := throttledProxy(t, ts, udpproxy.Config{RateBits: resumeRate})
	r := shutdownRig{ts: ts, local: t.TempDir(), data: map[string][]byte{}}
	r.s = newTestSession(t, ts, newIdentity(t), p.Addr().String(), reconnectQuic, sessionConfig{RetryFor: 30 * time.Second})
	r.data["batch/small.bin"] = testutil.WriteRandom(t, filepath.Join(r.local, "batch", "small.bin"), 100<<10)
	r.data[shutdownBig] = testutil.WriteRandom(t, filepath.Join(r.local, "batch", "big.bin"), shutdownSize)
	r.res = sessionPush(longCtx(t), r.s, []string{filepath.Join(r.local, "batch")}, Options{Recursive: true})
	testutil.Eventually(t, hangAfter, "2 MiB of the big file on the server", func() bool {
		return received(ts.srv.Transfers(), shutdownBig) >= 2<<20
	})
	return r
}

// check waits for the push and checks every file arrived whole.
func (r shutdownRig) check(t *testing.T) *Report {
	t.Helper()
	rep := waitPush(t, r.res, hangAfter)
	checkReport(t, "push", rep, nil, len(r.data), Done)
	for name, data := range r.data {
		testutil.SameFile(t, filepath.Join(r.ts.root, filepath.FromSlash(name)), data)
	}
	testutil.NoPartials(t, r.ts.root)
	return rep
}

// TestShutdownDrains: Shutdown in the middle of a push refuses new
// connections and lets the push finish; it returns once the session has
// ended, without the client reconnecting.
func TestShutdownDrains(t *testing.T) {
	r := startShutdownRig(t)
	drained := make(chan error, 1)
	go func() { drained <- r.ts.srv.Shutdown(longCtx(t)) }()
	testutil.Eventually(t, hangAfter, "the server to drain", r.ts.srv.draining)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := dialConn(ctx, r.ts.addr, clientConfig(t, r.ts, newIdentity(t), quicx.Config{}, nil))
	var ae *quic.ApplicationError
	if !errors.As(err, &ae) || ae.ErrorCode != quic.ApplicationErrorCode(CodeShutdown) {
		t.Errorf("dial while draining: got %v, want refused with %s", err, CodeShutdown)
	}
	if got := counterValue(t, r.ts.srv, "qxfer_handshake_failures_total", map[string]string{"cause": "shutting_down"}); got != 1 {
		t.Errorf("handshake failures while draining: got %v, want 1", got)
	}

	t0 := time.Now()
	r.check(t)
	t.Logf("push done %v after the dial", time.Since(t0))
	select {
	case err := <-drained:
		if err != nil {
			t.Errorf("Shutdown: %v, want nil", err)
		}
	case <-time.After(hangAfter):
		t.Fatal("Shutdown did not return after the push ended")
	}
	if n := r.ts.srv.Sessions(); n != 0 {
		t.Errorf("after Shutdown: %d sessions, want 0", n)
	}
}

// TestShutdownTimeout: a push still running when Shutdown's context ends
// is cut off by cancelling Serve (CodeShutdown); the client keeps
// reconnecting and resumes against the restarted server.
func TestShutdownTimeout(t *testing.T) {
	r := startShutdownRig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := r.ts.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with a push running past its deadline: got %v, want %v", err, context.DeadlineExceeded)
	}
	r.ts.stop()
	serveAt(t, ServerConfig{Root: r.ts.root}, r.ts.id, r.ts.addr, quicx.Config{}, nil)
	rep := r.check(t)
	if r.s.Reconnects() < 1 {
		t.Errorf("got %d reconnects, want at least 1", r.s.Reconnects())
	}
	checkResumed(t, fileByPath(t, rep, shutdownBig), shutdownSize)
}

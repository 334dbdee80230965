package session

import (
	"os"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// TestSweepWaitsForIdle: a sweep walks while no session runs (issue 17:
// the start-up sweep of a big root took a quarter of the server's CPU
// from the session that came at once). With a client connected it waits
// at the first directory, the partial still there; once the client has
// gone it finishes and removes it. And it waits no longer than its
// deadline: with a session still running, it sweeps once that has passed.
func TestSweepWaitsForIdle(t *testing.T) {
	const ttl = time.Hour
	root := t.TempDir()
	ts := startServer(t, ServerConfig{Root: root}, nil)
	c := ts.dial(t, "")
	if _, err := c.List(testCtx(t), "."); err != nil { // the session runs
		t.Fatal(err)
	}
	if n := ts.srv.Sessions(); n != 1 {
		t.Fatalf("%d sessions, want 1", n)
	}

	part := plant(t, root, xfer.PartName("a/b/old.bin"), 2*ttl)
	ctx := testCtx(t)
	done := make(chan int, 1)
	start := time.Now()
	go func() { done <- ts.srv.sweepIdle(ctx, start.Add(ttl), start.Add(time.Hour)) }()
	select {
	case n := <-done:
		t.Fatalf("the sweep ran with a session running: removed %d partials", n)
	case <-time.After(3 * idlePoll):
	}
	if _, err := os.Stat(part); err != nil {
		t.Fatalf("partial while the session runs: %v; want it kept", err)
	}
	c.Close()
	select {
	case n := <-done:
		if n != 1 {
			t.Errorf("sweep once idle: removed %d partials, want 1", n)
		}
	case <-time.After(hangAfter):
		t.Fatal("the sweep did not go on once the session had ended")
	}
	testutil.NoFile(t, part)

	// The deadline: a session runs throughout, and the sweep goes on
	// once the deadline has passed.
	c2 := ts.dial(t, "")
	if _, err := c2.List(testCtx(t), "."); err != nil {
		t.Fatal(err)
	}
	part = plant(t, root, xfer.PartName("a/b/older.bin"), 2*ttl)
	const wait = 5 * idlePoll
	start = time.Now()
	if n := ts.srv.sweepIdle(ctx, start.Add(ttl), start.Add(wait)); n != 1 {
		t.Errorf("sweep past its deadline: removed %d partials, want 1", n)
	}
	if took := time.Since(start); took < wait {
		t.Errorf("the sweep took %s with a session running, want at least its %s wait", took, wait)
	}
	testutil.NoFile(t, part)
	if ts.srv.Sessions() != 1 {
		t.Errorf("%d sessions after the sweep, want the one still running", ts.srv.Sessions())
	}
}

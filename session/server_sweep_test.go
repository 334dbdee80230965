package session

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/internal/udpproxy"
	"github.com/qxfer/qxfer/quicx"
	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// plant writes file rel (slash-separated) under root with mtime age ago.
func plant(t testing.TB, root, rel string, age time.Duration) string {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	setAge(t, p, age)
	return p
}

// setAge sets p's times to age ago.
func setAge(t testing.TB, p string, age time.Duration) {
	t.Helper()
	when := time.Now().Add(-age)
	if err := os.Chtimes(p, when, when); err != nil {
		t.Fatal(err)
	}
}

func mtimeOf(t testing.TB, p string) time.Time {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.ModTime()
}

// TestSweepAtStart: the sweep Serve runs at once removes the side files of
// destinations untouched for the TTL, whole groups at a time, and nothing
// else: not a younger partial, not a name that merely looks like one.
func TestSweepAtStart(t *testing.T) {
	const ttl = time.Hour
	root := t.TempDir()
	gone := []string{
		plant(t, root, xfer.PartName("sub/old.bin"), 2*ttl),
		plant(t, root, xfer.RecordName("sub/old.bin"), 2*ttl),
		plant(t, root, xfer.RecordName("orphan")+".tmp", 3*ttl),
	}
	kept := []string{
		// The part is old, its record was written since: the group
		// is not abandoned.
		plant(t, root, xfer.PartName("mixed"), 2*ttl),
		plant(t, root, xfer.RecordName("mixed"), ttl/2),
		plant(t, root, xfer.PartName("young.bin"), ttl/2),
		plant(t, root, "old.bin.qxfer.part", 2*ttl), // not a dot file: a user's
		plant(t, root, ".hidden", 2*ttl),
		plant(t, root, "sub/old.bin", 2*ttl),
	}
	ts := startServer(t, ServerConfig{Root: root, PartialTTL: ttl}, nil)
	testutil.Eventually(t, hangAfter, "the sweep at start", func() bool {
		return counterValue(t, ts.srv, "qxfer_partials_swept_total", nil) == 2
	})
	for _, p := range gone {
		testutil.NoFile(t, p)
	}
	for _, p := range kept {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v; want it kept", p, err)
		}
	}
	// Later, the young and mixed ones are old too.
	if n := ts.srv.sweepPartials(context.Background(), time.Now().Add(ttl)); n != 2 {
		t.Errorf("second sweep: removed %d partials, want 2 (mixed, young.bin)", n)
	}
	testutil.SameDirNames(t, "root after the second sweep", root, ".hidden", "old.bin.qxfer.part", "sub")
	testutil.SameDirNames(t, "sub after the second sweep", filepath.Join(root, "sub"), "old.bin")
}

// TestSweepZeroTTL: a TTL of zero keeps partials forever.
func TestSweepZeroTTL(t *testing.T) {
	root := t.TempDir()
	p := plant(t, root, xfer.PartName("f"), 1000*time.Hour)
	ts := startServer(t, ServerConfig{Root: root}, nil)
	c := ts.dial(t, "")
	if _, err := c.List(testCtx(t), "."); err != nil { // the server is up, its start behind it
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("with PartialTTL 0: %v; want the partial kept", err)
	}
}

// TestSweepSparesLivePush: a push that resumes a partial refreshes its
// times, and while it is live no sweep removes its files, however old
// they look. A raw client offers the file and then sends nothing, so no
// byte written explains a fresh time.
func TestSweepSparesLivePush(t *testing.T) {
	const (
		ttl  = time.Hour
		size = 1 << 20
		off  = 1 << 19
	)
	root := t.TempDir()
	src := make([]byte, size)
	mtime := time.Unix(1700000000, 0)
	meta := xfer.FileMeta{Size: size, Mode: 0o644, MTime: mtime}
	part, rec := filepath.Join(root, xfer.PartName("f")), filepath.Join(root, xfer.RecordName("f"))
	if err := os.WriteFile(part, src, 0o600); err != nil {
		t.Fatal(err)
	}
	writeRecord(t, root, "f", recordOf(src[:off], meta))
	setAge(t, part, ttl-time.Minute)
	setAge(t, rec, ttl-time.Minute)

	ts := startServer(t, ServerConfig{Root: root, PartialTTL: ttl}, nil)
	p := dialRaw(t, ts)
	p.hello()
	before := time.Now().Add(-time.Second) // file systems round times
	p.send(&wire.Put{ID: 1, Path: "f", Size: size, Mode: 0o644, MTime: mtime})
	acc := expectMsg[*wire.Accept](p)
	if haveBytes(acc.Have) != off {
		t.Fatalf("accept offers %v, want the %d bytes of the partial", acc.Have, off)
	}
	for _, f := range []string{part, rec} {
		if m := mtimeOf(t, f); m.Before(before) {
			t.Errorf("%s: mtime %v after the resume, want it refreshed (at least %v)", f, m, before)
		}
	}
	// The push is live: however old its files, the sweep leaves them.
	setAge(t, part, 2*ttl)
	setAge(t, rec, 2*ttl)
	if n := ts.srv.sweepPartials(context.Background(), time.Now()); n != 0 {
		t.Errorf("sweep during the push removed %d partials, want 0", n)
	}
	for _, f := range []string{part, rec} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("%s during the push: %v; want it kept", f, err)
		}
	}
	// Once the client is gone, they go.
	p.close()
	testutil.Eventually(t, hangAfter, "the server to end the push", func() bool { return ts.srv.Transfers().Len() == 0 })
	setAge(t, part, 2*ttl)
	setAge(t, rec, 2*ttl)
	if n := ts.srv.sweepPartials(context.Background(), time.Now()); n != 1 {
		t.Errorf("sweep after the push: removed %d partials, want 1", n)
	}
	testutil.NoFile(t, part)
	testutil.NoFile(t, rec)
}

// TestSweptPartialStartsOver: a real push cut off in the middle leaves a
// partial; one younger than the TTL survives a sweep and the next push
// resumes from it, one older is swept and the next push starts over.
func TestSweptPartialStartsOver(t *testing.T) {
	const (
		ttl  = time.Hour
		name = "big.bin"
		size = xfer.CheckpointEvery + 4<<20
	)
	for _, old := range []bool{false, true} {
		t.Run(map[bool]string{false: "young resumes", true: "old is swept"}[old], func(t *testing.T) {
			ts := startServer(t, ServerConfig{PartialTTL: ttl}, nil)
			link := throttledProxy(t, ts, udpproxy.Config{RateBits: resumeRate}).Addr().String()
			id := newIdentity(t)
			local := t.TempDir()
			testutil.WriteRandom(t, filepath.Join(local, name), size)
			run := transferOf(Push, local, name, Options{})
			first := dialAs(t, ts, id, link, quicx.Config{})
			killDuring(t, first, run, func() int64 { return received(ts.srv.Transfers(), name) }, xfer.CheckpointEvery+1)
			testutil.Eventually(t, hangAfter, "the server to end the push", func() bool { return ts.srv.Transfers().Len() == 0 })
			rec := readRecord(t, ts.root, name)
			if rec == nil {
				t.Fatal("no resume record after the interruption")
			}
			now := time.Now()
			if old {
				now = now.Add(2 * ttl)
			}
			want := map[bool]int{false: 0, true: 1}[old]
			if n := ts.srv.sweepPartials(context.Background(), now); n != want {
				t.Fatalf("sweep removed %d partials, want %d", n, want)
			}
			fi := onlyFile(t, "second push", run, dialAs(t, ts, id, ts.addr, quicx.Config{}))
			if fi.State != Done {
				t.Fatalf("second push: %s (%v), want done", fi.State, fi.Err)
			}
			if resumed := fi.Bytes < size; resumed == old {
				t.Errorf("second push moved %d of %d bytes; want resumed=%v", fi.Bytes, size, !old)
			}
			testutil.NoPartials(t, ts.root)
		})
	}
}

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

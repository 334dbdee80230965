package session

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/qxfer/qxfer/certs"
	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/internal/udpproxy"
	"github.com/qxfer/qxfer/quicx"
)

// missingDest is a push batch's destination state in which dir was
// listed holding nothing, whatever the server holds now: the state of a
// push when a file appears there after the listing.
func missingDest(dir string) *destStates {
	d := &destDir{ready: make(chan struct{}), known: true, left: 1 << 30}
	close(d.ready)
	return &destStates{listed: map[string]bool{dir: true}, dirs: map[string]*destDir{dir: d}}
}

// putOne pushes local to remote on c as one job of a batch whose listing
// is ds, and returns the verdict.
func putOne(t *testing.T, c *clientConn, local, remote string, ds *destStates, force bool) error {
	t.Helper()
	tr := newTransfer(c.newJobID(), Push, remote, local, 0, nil)
	return c.runPut(testCtx(t), tr, putJob{local: local, remote: remote, force: force, dest: ds}, &slot{sem: make(chan struct{}, 1)})
}

// TestEagerPushRefused: a small file whose destination the listing shows
// missing is sent with its offer, before any Accept; when the server has
// a file there after all, its verdict stands: without -f the push is
// refused (Exists) and the file there is untouched, no partial is left,
// and the connection sends no more files eagerly; with -f the file is
// replaced by the new bytes; a file already identical there is up to date
// and untouched. The server serves on.
func TestEagerPushRefused(t *testing.T) {
	ts, c := startWithClient(t)
	src := t.TempDir()
	local := filepath.Join(src, "f")
	data := testutil.WriteRandom(t, local, 4<<10)
	remote := filepath.Join(ts.root, "d", "f")
	old := testutil.WriteRandom(t, remote, 4<<10)
	past := time.Now().Add(-time.Hour)
	if err := os.Chtimes(remote, past, past); err != nil {
		t.Fatal(err)
	}

	err := putOne(t, c, local, "d/f", missingDest("d"), false)
	if got := codeOfErr(err); got != CodeExists {
		t.Fatalf("push over a file the listing missed: got %v (%v), want %v", got, err, CodeExists)
	}
	testutil.SameFile(t, remote, old)
	testutil.NoPartials(t, ts.root)
	if !c.noEager.Load() {
		t.Errorf("after a refused eager push the connection still sends eagerly")
	}

	c2 := ts.dial(t, "")
	if err := putOne(t, c2, local, "d/f", missingDest("d"), true); err != nil {
		t.Fatalf("push -f over a file the listing missed: %v", err)
	}
	testutil.SameFile(t, remote, data)
	testutil.NoPartials(t, ts.root)
	if c2.noEager.Load() {
		t.Errorf("an accepted eager push stopped eager sending")
	}

	// Identical (size and mtime) on the server: up to date, not
	// rewritten (its inode stays).
	fi, err := os.Stat(local)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(remote, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(remote)
	if err != nil {
		t.Fatal(err)
	}
	err = putOne(t, c2, local, "d/f", missingDest("d"), true)
	if got := codeOfErr(err); got != CodeUpToDate {
		t.Fatalf("push of an identical file the listing missed: got %v (%v), want %v", got, err, CodeUpToDate)
	}
	after, err := os.Stat(remote)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Errorf("an up-to-date file was replaced")
	}
	testutil.NoPartials(t, ts.root)
	checkServes(t, ts)
}

// TestEagerPushReadOnly: a read-only client may list, so its push of a
// tree into an existing empty directory starts eagerly; every file is
// refused (ReadOnly), nothing is written, the connection stops sending
// eagerly after the first refusal, and the server serves on.
func TestEagerPushReadOnly(t *testing.T) {
	me, ro := newIdentity(t), newIdentity(t)
	ts := accessServer(t, ServerConfig{}, map[*certs.Identity]certs.ClientAccess{me: {}, ro: {ReadOnly: true}})
	r := dialAs(t, ts, ro, ts.addr, quicx.Config{})
	src := filepath.Join(t.TempDir(), "tree")
	for i := range 40 {
		testutil.WriteRandom(t, filepath.Join(src, "sub", string(rune('a'+i%26))+string(rune('a'+i/26))), 1<<10)
	}
	if err := os.MkdirAll(filepath.Join(ts.root, "tree", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	rep, err := r.Push(testCtx(t), []string{src}, ".", Options{Recursive: true})
	if rep == nil {
		t.Fatalf("no report: %v", err)
	}
	for _, f := range rep.Files {
		if f.State != Failed || codeOfErr(f.Err) != CodeReadOnly {
			t.Errorf("%s: %s (%v), want refused read-only", f.Path, f.State, f.Err)
		}
	}
	if len(rep.Files) < 40 {
		t.Errorf("report lists %d files, want 40", len(rep.Files))
	}
	if !r.noEager.Load() {
		t.Errorf("after refused eager pushes the connection still sends eagerly")
	}
	if ents, err := os.ReadDir(filepath.Join(ts.root, "tree", "sub")); err != nil || len(ents) != 0 {
		t.Errorf("destination after a read-only push: %v, %v; want empty", ents, err)
	}
	// The server serves on: the writer's push of the same tree lands.
	c := dialAs(t, ts, me, ts.addr, quicx.Config{})
	rep, err = c.Push(testCtx(t), []string{src}, ".", Options{Recursive: true})
	checkReport(t, "push by a writer", rep, err, 40, Done)
}

// TestEagerPushRoundTrips: a new small file costs one round trip less
// when it goes with its offer than when it waits for the Accept. Over a
// 200 ms round trip, a push of a directory of small files into a new
// one is timed eagerly and not (the fastest of up to three tries each,
// against a loaded machine): the eager push must save at least half a
// round trip.
func TestEagerPushRoundTrips(t *testing.T) {
	const delay = 100 * time.Millisecond // one way
	ts := startServer(t, ServerConfig{}, nil)
	p := throttledProxy(t, ts, udpproxy.Config{Delay: delay})
	src := filepath.Join(t.TempDir(), "tree")
	for i := range 8 {
		testutil.WriteRandom(t, filepath.Join(src, string(rune('a'+i))), 4<<10)
	}
	push := func(eager bool, into string) time.Duration {
		c := ts.dial(t, p.Addr().String())
		defer c.Close()
		c.noEager.Store(!eager)
		start := time.Now()
		rep, err := c.Push(testCtx(t), []string{src}, into, Options{Recursive: true})
		elapsed := time.Since(start)
		checkReport(t, into, rep, err, 8, Done)
		return elapsed
	}
	var best [2]time.Duration
	for try := range 3 {
		for i, eager := range []bool{true, false} {
			d := push(eager, filepath.Join("run", string(rune('0'+try)), map[bool]string{true: "eager", false: "waits"}[eager]))
			if best[i] == 0 || d < best[i] {
				best[i] = d
			}
		}
		if best[1]-best[0] >= delay {
			break
		}
	}
	t.Logf("eager %v, waiting for the Accept %v (round trip %v)", best[0], best[1], 2*delay)
	if saved := best[1] - best[0]; saved < delay {
		t.Errorf("eager push saved %v, want at least half a round trip (%v)", saved, delay)
	}
}

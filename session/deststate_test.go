package session

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/qxfer/qxfer/certs"
	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/quicx"
)

// TestPushBulkUpToDate: a push learns what is up to date from one
// listing per directory and offers only the rest (the server sees no
// request for an up-to-date file); a changed file is still sent; a file
// standing where the push needs a directory is refused by the server,
// never taken as up to date; a client that may not list (write-only)
// gets the same verdicts from the server, file by file.
func TestPushBulkUpToDate(t *testing.T) {
	me, wo := newIdentity(t), newIdentity(t)
	ts := accessServer(t, ServerConfig{}, map[*certs.Identity]certs.ClientAccess{me: {}, wo: {WriteOnly: true}})
	c := dialAs(t, ts, me, ts.addr, quicx.Config{})
	ctx := testCtx(t)
	src := filepath.Join(t.TempDir(), "tree")
	for i := range 12 {
		testutil.WriteRandom(t, filepath.Join(src, fmt.Sprintf("f%02d", i)), 100+i)
		testutil.WriteRandom(t, filepath.Join(src, "sub", fmt.Sprintf("g%02d", i)), 200+i)
	}
	started := func() float64 {
		return valueIn(scrape(t, ts.srv), "qxfer_transfers_started_total", map[string]string{"direction": "push"})
	}
	rep, err := c.Push(ctx, []string{src}, "in", Options{Recursive: true})
	checkReport(t, "first push", rep, err, 24, Done)
	first := started()

	// Everything up to date but one file, given a newer mtime.
	changed := filepath.Join(src, "sub", "g03")
	if err := os.Chtimes(changed, time.Now(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	rep, err = c.Push(ctx, []string{src}, "in", Options{Recursive: true, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	var done, upToDate int
	for _, f := range rep.Files {
		switch {
		case f.State == Done && f.Path == "in/tree/sub/g03":
			done++
		case isUpToDate(f):
			upToDate++
		default:
			t.Errorf("second push: %s: got %s (%v), want up to date", f.Path, f.State, f.Err)
		}
	}
	if done != 1 || upToDate != 23 {
		t.Errorf("second push: got %d sent and %d up to date, want 1 and 23", done, upToDate)
	}
	if got := started() - first; got != 1 {
		t.Errorf("second push: the server saw %v transfers, want 1 (the changed file)", got)
	}
	got, err := os.ReadFile(filepath.Join(ts.root, "in", "tree", "sub", "g03"))
	if err != nil {
		t.Fatal(err)
	}
	testutil.SameFile(t, changed, got)

	// A file where the push needs a directory: the server refuses each
	// file under it, whatever the listing of the file looks like.
	blocker := filepath.Join(ts.root, "in", "tree2", "sub")
	testutil.WriteRandom(t, blocker, 10)
	if err := os.Rename(src, filepath.Join(filepath.Dir(src), "tree2")); err != nil {
		t.Fatal(err)
	}
	src = filepath.Join(filepath.Dir(src), "tree2")
	rep, err = c.Push(ctx, []string{src}, "in", Options{Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Files {
		if filepath.Dir(f.Path) == "in/tree2/sub" && (f.State == Done || isUpToDate(f)) {
			t.Errorf("push under a file: %s: got %s (%v), want refused", f.Path, f.State, f.Err)
		}
	}

	// The write-only client cannot list: the server decides each file.
	w := dialAs(t, ts, wo, ts.addr, quicx.Config{})
	rep, err = w.Push(ctx, []string{filepath.Join(ts.root, "in", "tree")}, "in", Options{Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Files {
		if !isUpToDate(f) {
			t.Errorf("write-only push: %s: got %s (%v), want up to date", f.Path, f.State, f.Err)
		}
	}
}

// isUpToDate reports whether f was skipped as up to date.
func isUpToDate(f TransferInfo) bool {
	return f.State == Skipped || (f.Err != nil && codeOfErr(f.Err) == CodeUpToDate)
}

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

// TestPushStreamedUnchangedDirs is TestPushUnchangedDirs for a streamed
// push (more files than streamAhead): no DirMeta for a directory whose
// listing shows the source's mode and mtime and below which nothing
// changed (a no-op push of the kernel tree sent 5,760 that changed
// nothing), one where the mtime differs, and one for the directory of a
// file sent again, whose mtime the write changed.
func TestPushStreamedUnchangedDirs(t *testing.T) {
	defer func(n int) { streamAhead = n }(streamAhead)
	streamAhead = 8
	me, ro := newIdentity(t), newIdentity(t)
	ts := accessServer(t, ServerConfig{}, map[*certs.Identity]certs.ClientAccess{me: {}, ro: {ReadOnly: true}})
	c := dialAs(t, ts, me, ts.addr, quicx.Config{})
	r := dialAs(t, ts, ro, ts.addr, quicx.Config{})
	ctx := testCtx(t)
	src := filepath.Join(t.TempDir(), "tree")
	subs := []string{"s1", "s2", "s3", "s4"}
	for _, s := range subs {
		for i := range 6 {
			testutil.WriteRandom(t, filepath.Join(src, s, fmt.Sprintf("f%d", i)), 10+i)
		}
	}
	old := time.Date(2020, 1, 2, 3, 4, 5, 6, time.UTC)
	for _, s := range subs {
		if err := os.Chtimes(filepath.Join(src, s), old, old); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := c.Push(ctx, []string{src}, ".", Options{Recursive: true})
	checkReport(t, "first push", rep, err, 24, Done)

	failedDirs := func(rep *Report) map[string]bool {
		out := map[string]bool{}
		for _, f := range rep.Files {
			switch {
			case f.State == Failed && codeOfErr(f.Err) == CodeReadOnly:
				out[f.Path] = true
			case !isUpToDate(f):
				t.Errorf("%s: %s (%v), want up to date", f.Path, f.State, f.Err)
			}
		}
		return out
	}
	rep, _ = r.Push(ctx, []string{src}, ".", Options{Recursive: true})
	if got := failedDirs(rep); len(got) != 1 || !got["tree"] {
		t.Errorf("no-op push: DirMeta refused for %v, want only tree", got)
	}
	if err := os.Chtimes(filepath.Join(ts.root, "tree", "s2"), time.Now(), time.Now()); err != nil {
		t.Fatal(err)
	}
	rep, _ = r.Push(ctx, []string{src}, ".", Options{Recursive: true})
	if got := failedDirs(rep); len(got) != 2 || !got["tree"] || !got["tree/s2"] {
		t.Errorf("push after s2's mtime changed: DirMeta refused for %v, want tree and tree/s2", got)
	}
	// A file of s3 is gone on the server: it is sent again, which
	// changes s3's mtime, and the push sets it back to the source's.
	if err := os.Remove(filepath.Join(ts.root, "tree", "s3", "f2")); err != nil {
		t.Fatal(err)
	}
	rep, err = c.Push(ctx, []string{src}, ".", Options{Recursive: true})
	if err != nil || rep.Err() != nil || rep.Count(Done) != 1 {
		t.Fatalf("push after s3/f2 was removed: %v, %v, %d sent, want 1", err, rep.Err(), rep.Count(Done))
	}
	for _, s := range subs {
		if got := mtimeOf(t, filepath.Join(ts.root, "tree", s)); !got.Equal(old) {
			t.Errorf("tree/%s: mtime %s, want the source's %s", s, got, old)
		}
	}
}

package session

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/qxfer/qxfer/internal/testutil"
)

// mkNonUTF8 creates dir/name, a name that is not valid UTF-8, with data,
// or skips the test where the file system refuses such names.
func mkNonUTF8(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Skipf("this file system refuses a name that is not UTF-8: %v", err)
	}
	return p
}

// TestNonUTF8LocalPaths: a local path is used exactly as given, bytes
// that are not UTF-8 included; a name that would cross the wire must be
// UTF-8, and is refused by its local path, with nothing written on the
// server (issue 13, class 4).
func TestNonUTF8LocalPaths(t *testing.T) {
	ts, c := startWithClient(t)
	ctx := testCtx(t)
	data := testutil.WriteRandom(t, filepath.Join(ts.root, "f"), 1000)

	t.Run("pull into a non-UTF-8 directory", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "out\xff")
		rep, err := c.Pull(ctx, []string{"f"}, dst, Options{})
		checkOK(t, "pull", rep, err)
		testutil.SameFile(t, filepath.Join(dst, "f"), data)
	})
	t.Run("pull to a non-UTF-8 file name", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "lat\xe9")
		rep, err := c.PullFile(ctx, "f", dst, Options{})
		checkOK(t, "pull", rep, err)
		testutil.SameFile(t, dst, data)
	})
	t.Run("push a file from a non-UTF-8 directory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "d\xff")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Skipf("this file system refuses a name that is not UTF-8: %v", err)
		}
		src := filepath.Join(dir, "g")
		want := testutil.WriteRandom(t, src, 500)
		rep, err := c.Push(ctx, []string{src}, "up", Options{})
		checkOK(t, "push", rep, err)
		testutil.SameFile(t, filepath.Join(ts.root, "up", "g"), want)
	})
	t.Run("push a non-UTF-8 name", func(t *testing.T) {
		src := mkNonUTF8(t, t.TempDir(), "lat\xe9", []byte("x"))
		rep, err := c.Push(ctx, []string{src}, "bad", Options{})
		checkReport(t, "push", rep, err, 1, Failed)
		f := rep.Files[0]
		e := fileError(t, f)
		if e.Code != CodeInvalidPath || e.Path != src || e.Msg != errNotUTF8 {
			t.Errorf("got %v (code %v, path %q), want %v naming %q: %s", e, e.Code, e.Path, CodeInvalidPath, src, errNotUTF8)
		}
		// The destination directory is created, as for any push; nothing
		// is written into it.
		if ents, _ := os.ReadDir(filepath.Join(ts.root, "bad")); len(ents) > 0 {
			t.Errorf("the server has %s in bad/, want nothing written", ents[0].Name())
		}
	})
	t.Run("push -r of a tree with a non-UTF-8 directory", func(t *testing.T) {
		tree := filepath.Join(t.TempDir(), "tree")
		ok := testutil.WriteRandom(t, filepath.Join(tree, "ok"), 10)
		bad := filepath.Join(tree, "sub\xff")
		if err := os.MkdirAll(filepath.Join(bad, "empty"), 0o755); err != nil {
			t.Skipf("this file system refuses a name that is not UTF-8: %v", err)
		}
		testutil.WriteRandom(t, filepath.Join(bad, "inner"), 10)
		rep, err := c.Push(ctx, []string{tree}, "r", Options{Recursive: true})
		if err != nil {
			t.Fatalf("push: %v", err)
		}
		if rep.Count(Done) != 1 || rep.Count(Failed) != 1 || len(rep.Files) != 2 {
			t.Fatalf("got %+v, want ok done and %s failed", rep.Files, bad)
		}
		testutil.SameFile(t, filepath.Join(ts.root, "r", "tree", "ok"), ok)
		f := fileByPath(t, rep, "r/tree/sub\xff") // the remote path it was bound for
		if f.Local != bad {
			t.Errorf("got local %q, want %q", f.Local, bad)
		}
		if e := fileError(t, f); e.Code != CodeInvalidPath || e.Msg != errNotUTF8 {
			t.Errorf("%q: got %v, want %v: %s", bad, e, CodeInvalidPath, errNotUTF8)
		}
	})
}

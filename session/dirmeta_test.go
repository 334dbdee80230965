package session

import (
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/session/internal/wire"
)

// dirCase is a directory of the tree TestDirMeta moves.
type dirCase struct {
	rel   string
	mode  fs.FileMode
	mtime time.Time
}

// metaTree makes under base a tree whose directories have the modes and
// mtimes of dirs, with files in some of them; the mtimes are set last,
// deepest first, as the receiver must.
func metaTree(t *testing.T, base string, dirs []dirCase) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(base, d.rel), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, rel := range []string{"top/a.txt", "top/private/secret.txt", "top/sub/deep/b.bin"} {
		files[rel] = testutil.WriteRandom(t, filepath.Join(base, rel), 3000)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		p := filepath.Join(base, d.rel)
		if err := os.Chtimes(p, d.mtime, d.mtime); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, d.mode); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// checkMetaTree checks the directories and files of a copy of metaTree.
func checkMetaTree(t *testing.T, base string, dirs []dirCase, files map[string][]byte) {
	t.Helper()
	for rel, data := range files {
		testutil.SameFile(t, filepath.Join(base, rel), data)
	}
	for _, d := range dirs {
		fi, err := os.Stat(filepath.Join(base, d.rel))
		if err != nil {
			t.Fatal(err)
		}
		if runtime.GOOS != "windows" && fi.Mode().Perm() != d.mode {
			t.Errorf("%s: got mode %v, want %v", d.rel, fi.Mode().Perm(), d.mode)
		}
		if !fi.ModTime().Equal(d.mtime) {
			t.Errorf("%s: got mtime %v, want %v", d.rel, fi.ModTime(), d.mtime)
		}
	}
}

// TestDirMeta checks that push -r and pull -r keep the mode and mtime of
// every directory of the tree, as rsync -a does: a 0700 directory
// arrives 0700, and mtimes survive the files written into the
// directories. Regression: every directory arrived 0755 with the time of
// the copy as its mtime.
func TestDirMeta(t *testing.T) {
	day := time.Date(2020, 5, 6, 7, 8, 9, 123456789, time.UTC)
	dirs := []dirCase{
		{"top", 0o750, day},
		{"top/private", 0o700, day.Add(time.Hour)},
		{"top/sub", 0o755, day.Add(2 * time.Hour)},
		{"top/sub/deep", 0o711, day.Add(3 * time.Hour)},
		{"top/sub/empty", 0o700, day.Add(4 * time.Hour)},
	}
	ts, c := startWithClient(t)
	local := t.TempDir()
	files := metaTree(t, local, dirs)

	rep, err := c.Push(testCtx(t), []string{filepath.Join(local, "top")}, "in", Options{Recursive: true})
	checkReport(t, "push -r", rep, err, len(files), Done)
	checkMetaTree(t, filepath.Join(ts.root, "in"), dirs, files)
	testutil.NoPartials(t, ts.root)

	back := t.TempDir()
	rep, err = c.Pull(testCtx(t), []string{"in/top"}, back, Options{Recursive: true})
	checkReport(t, "pull -r", rep, err, len(files), Done)
	checkMetaTree(t, back, dirs, files)
	testutil.NoPartials(t, back)

	// Again: everything is up to date, and the directories keep their
	// metadata.
	rep, err = c.Push(testCtx(t), []string{filepath.Join(local, "top")}, "in", Options{Recursive: true})
	checkReport(t, "push -r again", rep, err, len(files), Skipped)
	checkMetaTree(t, filepath.Join(ts.root, "in"), dirs, files)
}

// TestDirMetaRefused sends DirMeta requests a client would not: on a
// file, on a symlink to a directory, on the served root, outside it, and
// to a read-only server. Each is refused with its code and changes
// nothing; the session goes on.
func TestDirMetaRefused(t *testing.T) {
	ts := startServer(t, ServerConfig{}, nil)
	ro := startServer(t, ServerConfig{Root: ts.root, ReadOnly: true}, nil)
	testutil.WriteRandom(t, filepath.Join(ts.root, "d", "f"), 10)
	if err := os.Symlink("d", filepath.Join(ts.root, "link")); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(filepath.Join(ts.root, "d"))
	if err != nil {
		t.Fatal(err)
	}
	mt := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		ts   *testServer
		path string
		want ErrorCode
	}{
		{"file", ts, "d/f", CodeNotDirectory},
		{"symlink to a directory", ts, "link", CodeNotDirectory},
		{"missing", ts, "nope", CodeNotFound},
		{"served root", ts, ".", CodeInvalidPath},
		{"outside", ts, "../x", CodeInvalidPath},
		{"read-only server", ro, "d", CodeReadOnly},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := dialRaw(t, tt.ts)
			p.hello()
			p.send(&wire.DirMeta{ID: uint64(i + 1), Path: tt.path, Mode: 0o700, MTime: mt})
			rej := expectMsg[*wire.Reject](p)
			if rej.Code != tt.want {
				t.Errorf("got %v (%s), want %v", rej.Code, rej.Msg, tt.want)
			}
			p.send(&wire.Stat{ID: uint64(i + 100), Path: "d"})
			expectMsg[*wire.StatResult](p)
		})
	}
	after, err := os.Stat(filepath.Join(ts.root, "d"))
	if err != nil {
		t.Fatal(err)
	}
	if after.Mode() != before.Mode() || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("d changed: %v %v, was %v %v", after.Mode(), after.ModTime(), before.Mode(), before.ModTime())
	}
}

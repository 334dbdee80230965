package xfer

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/session/internal/wire"
)

// TestRenamePart: a .part is renamed into place in its directory, found
// afresh from the root; a directory swapped for a symlink leading out of
// the root (absolute or relative) is refused with invalid_path and nothing
// lands outside; a relative symlink that stays inside is followed, as
// os.Root follows it. On Linux the rename takes no path walk of os.Root:
// it still works once the root is closed.
func TestRenamePart(t *testing.T) {
	top, root := testutil.TempRoot(t)
	outside := t.TempDir()
	dirs := &KnownDirs{}
	defer dirs.Close()
	put := func(p string) {
		t.Helper()
		if err := root.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := root.WriteFile(PartName(p), []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		p     string
		setup func()
		want  ErrorCode // codeOf the error: wire.NoError for none
		// at: where the file must be afterwards (under top), "" for
		// nowhere.
		at string
	}{
		{name: "in the root", p: "f", at: "f"},
		{name: "four directories down", p: "a/b/c/d/f", at: "a/b/c/d/f"},
		{name: "swapped for an absolute symlink out", p: "s/f", setup: func() {
			os.Rename(filepath.Join(top, "s"), filepath.Join(top, "s.old"))
			os.WriteFile(filepath.Join(outside, PartName("f")), []byte("x"), 0o644)
			os.Symlink(outside, filepath.Join(top, "s"))
		}, want: wire.InvalidPath},
		{name: "swapped for a relative symlink out", p: "r/f", setup: func() {
			os.Rename(filepath.Join(top, "r"), filepath.Join(top, "r.old"))
			rel, _ := filepath.Rel(top, outside)
			os.Symlink(rel, filepath.Join(top, "r"))
		}, want: wire.InvalidPath},
		{name: "relative symlink inside", p: "l/f", setup: func() {
			os.Rename(filepath.Join(top, "l"), filepath.Join(top, "l.old"))
			os.Symlink("l.old", filepath.Join(top, "l"))
		}, at: "l.old/f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			put(tt.p)
			if tt.setup != nil {
				tt.setup()
			}
			err := renamePart(root, dirs, tt.p)
			if got := codeOf(err); got != tt.want {
				t.Fatalf("renamePart(%q): got %v (%v), want %v", tt.p, got, err, tt.want)
			}
			if tt.at != "" && !exists(t, top, tt.at) {
				t.Errorf("renamePart(%q): %s missing", tt.p, tt.at)
			}
			if exists(t, outside, "f") {
				t.Errorf("renamePart(%q): a file named f outside the root", tt.p)
			}
		})
	}
	if runtime.GOOS != "linux" {
		return
	}
	put("x/y/g")
	root.Close()
	if err := renamePart(root, dirs, "x/y/g"); err != nil {
		t.Fatalf("renamePart with the root closed: got %v, want the rename done through the root's descriptor", err)
	}
	if !exists(t, top, "x/y/g") {
		t.Errorf("renamePart with the root closed: x/y/g missing")
	}
}

package session

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/qxfer/qxfer/internal/testutil"
)

// TestPlaceLink: the rules both receivers of -l apply (the server for a
// push, the client for a pull, whatever a hostile server says): a target
// that is absolute or leads out of the tree is refused and nothing is
// made; an identical link is up to date; another one or a file is kept
// unless forced; a directory is never replaced.
func TestPlaceLink(t *testing.T) {
	dir, root := testutil.TempRoot(t)
	os.Mkdir(filepath.Join(dir, "adir"), 0o755)
	os.WriteFile(filepath.Join(dir, "afile"), []byte("x"), 0o644)
	tests := []struct {
		name, path, target string
		force              bool
		code               ErrorCode // 0: made
		want               string    // the link's target afterwards ("" none)
	}{
		{"absolute", "l1", "/etc/passwd", false, CodeInvalidPath, ""},
		{"out of the tree", "l2", "../x", false, CodeInvalidPath, ""},
		{"out from below", "d/e/l3", "../../../x", false, CodeInvalidPath, ""},
		{"empty", "l4", "", false, CodeInvalidPath, ""},
		{"NUL", "l5", "a\x00b", false, CodeInvalidPath, ""},
		{"made, parents too", "d/e/ok", "../../afile", false, 0, "../../afile"},
		{"identical", "d/e/ok", "../../afile", false, CodeUpToDate, "../../afile"},
		{"differs", "d/e/ok", "x", false, CodeExists, "../../afile"},
		{"differs, forced", "d/e/ok", "x", true, 0, "x"},
		{"a file there", "afile", "x", false, CodeExists, ""},
		{"a directory there, forced", "adir", "x", true, CodeNotRegular, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := placeLink(root, tt.path, tt.target, tt.force)
			if got := codeOfErr(err); (tt.code == 0 && err != nil) || (tt.code != 0 && got != tt.code) {
				t.Fatalf("placeLink(%q, %q): got %v, want code %v", tt.path, tt.target, err, tt.code)
			}
			got, _ := os.Readlink(filepath.Join(dir, filepath.FromSlash(tt.path)))
			if got != tt.want {
				t.Errorf("%s: got a link to %q, want %q", tt.path, got, tt.want)
			}
		})
	}
}

// TestDryRunLinks: with -l a dry run compares link targets (the server's
// read with Readlink for a push, the local one for a pull): a new link is
// sent, the same target is up to date, another target fails as exists
// without Force and is an update with it.
func TestDryRunLinks(t *testing.T) {
	for _, dir := range []Direction{Push, Pull} {
		t.Run(dir.String(), func(t *testing.T) {
			ts, c := startWithClient(t)
			ctx := testCtx(t)
			local, src, _ := treeDirs(t, dir, ts)
			writeTestFile(t, filepath.Join(src, "f"), []byte("f"))
			if err := os.Symlink("f", filepath.Join(src, "l")); err != nil {
				t.Skip("symlinks:", err)
			}
			run := func(opts Options) map[string]Action {
				t.Helper()
				opts.Recursive, opts.Links = true, LinksCopy
				rep, err := transferOf(dir, local, "tree", opts)(ctx, c)
				if err != nil {
					t.Fatal(err)
				}
				m := map[string]Action{}
				for _, a := range rep.Actions {
					m[filepath.Base(a.Path)] = a
				}
				return m
			}
			if a := run(Options{DryRun: true})["l"]; a.Kind != ActionSend || !a.IsLink {
				t.Errorf("first dry run: got %v (link %v), want send of a link", a.Kind, a.IsLink)
			}
			run(Options{})
			if a := run(Options{DryRun: true})["l"]; a.Kind != ActionUpToDate || a.Reason != "same link" {
				t.Errorf("after the copy: got %v (%s), want uptodate (same link)", a.Kind, a.Reason)
			}
			if err := os.Remove(filepath.Join(src, "l")); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("g", filepath.Join(src, "l")); err != nil {
				t.Fatal(err)
			}
			if a := run(Options{DryRun: true})["l"]; a.Kind != ActionFail || codeOfErr(a.Err) != CodeExists {
				t.Errorf("changed target: got %v (%v), want fail with exists", a.Kind, a.Err)
			}
			if a := run(Options{DryRun: true, Force: true})["l"]; a.Kind != ActionUpdate {
				t.Errorf("changed target with force: got %v, want update", a.Kind)
			}
		})
	}
}

// TestDeleteExcluded: excluded entries at the destination are kept by
// Delete and removed by DeleteExcluded (pushing).
func TestDeleteExcluded(t *testing.T) {
	ts, c := startWithClient(t)
	ctx := testCtx(t)
	src := filepath.Join(t.TempDir(), "tree")
	writeTestFile(t, filepath.Join(src, "keep.txt"), []byte("k"))
	writeTestFile(t, filepath.Join(ts.root, "tree", "x.log"), []byte("x"))
	writeTestFile(t, filepath.Join(ts.root, "tree", "cache", "y"), []byte("y"))
	flt, err := NewFilter([]FilterRule{{Pattern: "*.log"}, {Pattern: "cache/"}})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Recursive: true, Delete: true, Filter: flt}
	rep, err := c.Push(ctx, []string{src}, ".", opts)
	if err != nil || rep.Err() != nil || len(rep.Actions) != 0 {
		t.Fatalf("delete: %v %v, %d deleted, want none", err, rep.Err(), len(rep.Actions))
	}
	for _, p := range []string{"x.log", "cache/y"} {
		if _, err := os.Stat(filepath.Join(ts.root, "tree", p)); err != nil {
			t.Errorf("delete: excluded %s: %v, want it kept", p, err)
		}
	}
	opts.DeleteExcluded = true
	rep, err = c.Push(ctx, []string{src}, ".", opts)
	if err != nil || rep.Err() != nil || len(rep.Actions) != 3 {
		t.Fatalf("delete-excluded: %v %v, deleted %+v, want 3", err, rep.Err(), rep.Actions)
	}
	for _, p := range []string{"x.log", "cache"} {
		if _, err := os.Lstat(filepath.Join(ts.root, "tree", p)); !os.IsNotExist(err) {
			t.Errorf("delete-excluded: %s: %v, want it gone", p, err)
		}
	}
}

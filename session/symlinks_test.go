package session

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qxfer/qxfer/internal/testutil"
)

// linkTree builds, under dir, a tree of every kind of link a walk meets
// and returns its root, dir/tree:
//
//	f                 a file
//	lf -> f           a link to a file
//	sub/g             a file in a directory
//	ld -> sub         a link to a directory
//	onlylinks/l -> ../sub   a directory whose only entry links to a directory
//	loop/h, loop/x -> ., loop/y -> .   two links to their own directory
//	dangling -> nowhere
//	self -> self      a link to itself (ELOOP)
func linkTree(t *testing.T, dir string) (root string, data map[string][]byte) {
	t.Helper()
	root = filepath.Join(dir, "tree")
	data = map[string][]byte{
		"f":      testutil.WriteRandom(t, filepath.Join(root, "f"), 1000),
		"sub/g":  testutil.WriteRandom(t, filepath.Join(root, "sub", "g"), 2000),
		"loop/h": testutil.WriteRandom(t, filepath.Join(root, "loop", "h"), 300),
	}
	os.Mkdir(filepath.Join(root, "onlylinks"), 0o755)
	for link, target := range map[string]string{
		"lf": "f", "ld": "sub", "onlylinks/l": "../sub", "loop/x": ".", "loop/y": ".",
		"dangling": "nowhere", "self": "self",
	} {
		if err := os.Symlink(target, filepath.Join(root, filepath.FromSlash(link))); err != nil {
			t.Skipf("no symlinks here: %v", err)
		}
	}
	return root, data
}

// wantFiles checks a report: the files that arrived (by remote path) and
// the codes of those that failed; nothing else is in it.
func wantFiles(t *testing.T, rep *Report, done []string, failed map[string]ErrorCode) {
	t.Helper()
	seen := map[string]bool{}
	for _, f := range rep.Files {
		seen[f.Path] = true
		if code, ok := failed[f.Path]; ok {
			if f.State != Failed {
				t.Errorf("%s: got state %v, want failed with %v", f.Path, f.State, code)
			} else if e := fileError(t, f); e.Code != code {
				t.Errorf("%s: got %v, want code %v", f.Path, e, code)
			}
			continue
		}
		if f.State != Done {
			t.Errorf("%s: got state %v (err %v), want done", f.Path, f.State, f.Err)
		}
	}
	for _, p := range done {
		if !seen[p] {
			t.Errorf("%s: not in the report, want done", p)
		}
	}
	for p := range failed {
		if !seen[p] {
			t.Errorf("%s: not in the report, want failed", p)
		}
	}
	if n := len(done) + len(failed); len(rep.Files) != n {
		t.Errorf("got %d files in the report, want %d: %+v", len(rep.Files), n, rep.Files)
	}
}

// TestPushSymlinks: the link policy of push -r (issue 13, classes 10
// and 11). By default a link to a file is sent as the file, a link to a
// directory is skipped, and a directory whose only entries are skipped
// links is still created; with -L links to directories are followed too,
// except links to a directory that holds them, which are loops, fail with
// symlink_loop and produce no copy. A dangling link is not_found and a
// link to itself symlink_loop, never io_error.
func TestPushSymlinks(t *testing.T) {
	ts, c := startWithClient(t)
	ctx := testCtx(t)
	src, data := linkTree(t, t.TempDir())
	broken := map[string]ErrorCode{
		"d/tree/dangling": CodeNotFound,
		"d/tree/self":     CodeSymlinkLoop,
	}

	t.Run("default", func(t *testing.T) {
		rep, err := c.Push(ctx, []string{src}, "d", Options{Recursive: true})
		if err != nil {
			t.Fatal(err)
		}
		wantFiles(t, rep, []string{"d/tree/f", "d/tree/lf", "d/tree/sub/g", "d/tree/loop/h"}, broken)
		dst := filepath.Join(ts.root, "d", "tree")
		testutil.SameFile(t, filepath.Join(dst, "lf"), data["f"])
		if fi, err := os.Lstat(filepath.Join(dst, "lf")); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("lf: got %v, %v, want a regular file", fi, err)
		}
		testutil.SameDirNames(t, "onlylinks", filepath.Join(dst, "onlylinks"))
		testutil.SameDirNames(t, "loop", filepath.Join(dst, "loop"), "h")
		if _, err := os.Lstat(filepath.Join(dst, "ld")); err == nil {
			t.Errorf("ld: a link to a directory arrived, want it skipped")
		}
	})
	t.Run("copy-links", func(t *testing.T) {
		failed := map[string]ErrorCode{
			"e/tree/dangling": CodeNotFound,
			"e/tree/self":     CodeSymlinkLoop,
			"e/tree/loop/x":   CodeSymlinkLoop,
			"e/tree/loop/y":   CodeSymlinkLoop,
		}
		rep, err := c.Push(ctx, []string{src}, "e", Options{Recursive: true, Links: LinksFollow})
		if err != nil {
			t.Fatal(err)
		}
		wantFiles(t, rep, []string{"e/tree/f", "e/tree/lf", "e/tree/sub/g", "e/tree/ld/g", "e/tree/onlylinks/l/g", "e/tree/loop/h"}, failed)
		dst := filepath.Join(ts.root, "e", "tree")
		testutil.SameFile(t, filepath.Join(dst, "ld", "g"), data["sub/g"])
		testutil.SameFile(t, filepath.Join(dst, "onlylinks", "l", "g"), data["sub/g"])
		testutil.SameDirNames(t, "loop", filepath.Join(dst, "loop"), "h")
	})
	t.Run("a link named on the command line is followed", func(t *testing.T) {
		rep, err := c.Push(ctx, []string{filepath.Join(src, "ld"), filepath.Join(src, "lf")}, "n", Options{Recursive: true})
		if err != nil {
			t.Fatal(err)
		}
		wantFiles(t, rep, []string{"n/ld/g", "n/lf"}, nil)
	})
}

// TestFailedBeforeStartNamesRemote: a file that fails before any byte
// moves is reported under the remote path it was bound for, with its
// local path beside it (issue 13, class 11: --json "path").
func TestFailedBeforeStartNamesRemote(t *testing.T) {
	_, c := startWithClient(t)
	missing := filepath.Join(t.TempDir(), "nosuch.txt")
	rep, err := c.Push(testCtx(t), []string{missing}, "up", Options{})
	checkReport(t, "push", rep, err, 1, Failed)
	f := rep.Files[0]
	if f.Path != "up/nosuch.txt" || f.Local != missing {
		t.Errorf("got path %q, local %q, want up/nosuch.txt and %q", f.Path, f.Local, missing)
	}
	if e := fileError(t, f); e.Code != CodeNotFound || e.Path != missing {
		t.Errorf("got %v naming %q, want not_found naming %q", e, e.Path, missing)
	}
}

// TestPullSymlinks: pull -r applies the same link policy as push (issue
// 13, class 10): by default a link to a file arrives as the file and a
// link to a directory is skipped, its directory still created; with -L
// links to directories are followed, and the server refuses to list a
// directory reached again through a link (x -> ., y -> .), so no copy is
// made. Links the server cannot follow fail with their real cause: a
// dangling link not_found, a link to itself symlink_loop, an absolute
// link (even to a file inside the root) invalid_path.
func TestPullSymlinks(t *testing.T) {
	ts, c := startWithClient(t)
	ctx := testCtx(t)
	_, data := linkTree(t, ts.root)
	if err := os.Symlink(filepath.Join(ts.root, "tree", "f"), filepath.Join(ts.root, "tree", "abs")); err != nil {
		t.Fatal(err)
	}
	broken := func(prefix string) map[string]ErrorCode {
		return map[string]ErrorCode{
			prefix + "dangling": CodeNotFound,
			prefix + "self":     CodeSymlinkLoop,
			prefix + "abs":      CodeInvalidPath,
		}
	}

	t.Run("default", func(t *testing.T) {
		dst := t.TempDir()
		rep, err := c.Pull(ctx, []string{"tree"}, dst, Options{Recursive: true})
		if err != nil {
			t.Fatal(err)
		}
		wantFiles(t, rep, []string{"tree/f", "tree/lf", "tree/sub/g", "tree/loop/h"}, broken("tree/"))
		got := filepath.Join(dst, "tree")
		testutil.SameFile(t, filepath.Join(got, "lf"), data["f"])
		testutil.SameDirNames(t, "onlylinks", filepath.Join(got, "onlylinks"))
		testutil.SameDirNames(t, "loop", filepath.Join(got, "loop"), "h")
		testutil.SameDirNames(t, "tree", got, "f", "lf", "sub", "onlylinks", "loop")
	})
	t.Run("copy-links", func(t *testing.T) {
		dst := t.TempDir()
		failed := broken("tree/")
		failed["tree/loop/x"] = CodeSymlinkLoop
		failed["tree/loop/y"] = CodeSymlinkLoop
		rep, err := c.Pull(ctx, []string{"tree"}, dst, Options{Recursive: true, Links: LinksFollow})
		if err != nil {
			t.Fatal(err)
		}
		wantFiles(t, rep, []string{"tree/f", "tree/lf", "tree/sub/g", "tree/ld/g", "tree/onlylinks/l/g", "tree/loop/h"}, failed)
		got := filepath.Join(dst, "tree")
		testutil.SameFile(t, filepath.Join(got, "ld", "g"), data["sub/g"])
		testutil.SameFile(t, filepath.Join(got, "onlylinks", "l", "g"), data["sub/g"])
		testutil.SameDirNames(t, "loop", filepath.Join(got, "loop"), "h")
	})
	t.Run("a link named on the command line is followed", func(t *testing.T) {
		dst := t.TempDir()
		rep, err := c.Pull(ctx, []string{"tree/ld", "tree/lf"}, dst, Options{Recursive: true})
		if err != nil {
			t.Fatal(err)
		}
		wantFiles(t, rep, []string{"tree/ld/g", "tree/lf"}, nil)
	})
}

// readLink returns the target of the link p, failing the test if p is
// not a link.
func readLink(t *testing.T, p string) string {
	t.Helper()
	got, err := os.Readlink(p)
	if err != nil {
		t.Fatalf("%s: %v, want a symlink", p, err)
	}
	return got
}

// TestLinksCopied: with -l (LinksCopy) links inside a tree are copied as
// links, their targets unchanged, dangling ones too, both ways; a second
// run finds them up to date; a link whose target is absolute or leads
// out of the tree is refused with invalid_path by the receiver, and a
// server never tells such a target.
func TestLinksCopied(t *testing.T) {
	ts, c := startWithClient(t)
	ctx := testCtx(t)
	src, data := linkTree(t, t.TempDir())
	if err := os.Symlink("/etc/passwd", filepath.Join(src, "abs")); err != nil {
		t.Fatal(err)
	}
	// From l/tree/sub on the server, this leads out of its root.
	if err := os.Symlink("../../../../outside", filepath.Join(src, "sub", "out")); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{"lf": "f", "ld": "sub", "onlylinks/l": "../sub", "loop/x": ".", "loop/y": ".", "dangling": "nowhere", "self": "self"}
	opts := Options{Recursive: true, Links: LinksCopy}

	rep, err := c.Push(ctx, []string{src}, "l", opts)
	if err != nil {
		t.Fatal(err)
	}
	var done []string
	for _, p := range []string{"f", "sub/g", "loop/h", "lf", "ld", "onlylinks/l", "loop/x", "loop/y", "dangling", "self"} {
		done = append(done, "l/tree/"+p)
	}
	refused := map[string]ErrorCode{"l/tree/abs": CodeInvalidPath, "l/tree/sub/out": CodeInvalidPath}
	wantFiles(t, rep, done, refused)
	dst := filepath.Join(ts.root, "l", "tree")
	for p, target := range links {
		if got := readLink(t, filepath.Join(dst, filepath.FromSlash(p))); got != target {
			t.Errorf("server %s: got a link to %q, want %q", p, got, target)
		}
	}
	testutil.SameFile(t, filepath.Join(dst, "sub", "g"), data["sub/g"])

	again, err := c.Push(ctx, []string{src}, "l", opts)
	if err != nil {
		t.Fatal(err)
	}
	if n := again.Count(Skipped); n != len(done) || again.Count(Failed) != len(refused) {
		t.Errorf("second push: %d up to date, want %d: %+v", n, len(done), again.Files)
	}

	// The server's copy also holds a link leading out (made by hand).
	if err := os.Symlink("../../../../etc", filepath.Join(dst, "escape")); err != nil {
		t.Fatal(err)
	}
	local := t.TempDir()
	rep, err = c.Pull(ctx, []string{"l/tree"}, local, opts)
	if err != nil {
		t.Fatal(err)
	}
	wantFiles(t, rep, done, map[string]ErrorCode{"l/tree/escape": CodeInvalidPath})
	for p, target := range links {
		if got := readLink(t, filepath.Join(local, "tree", filepath.FromSlash(p))); got != target {
			t.Errorf("pulled %s: got a link to %q, want %q", p, got, target)
		}
	}
	if e := fileError(t, fileByPath(t, rep, "l/tree/escape")); strings.Contains(e.Error(), "etc") {
		t.Errorf("escape: got %q, which tells the server's target", e)
	}
}

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

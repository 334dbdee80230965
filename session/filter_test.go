package session

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestFilterExcluded(t *testing.T) {
	tests := []struct {
		name  string
		rules []FilterRule
		path  string
		dir   bool
		want  bool
	}{
		{"no rules", nil, "a/b", false, false},
		{"basename at any depth", []FilterRule{{Pattern: "*.o"}}, "a/b/c.o", false, true},
		{"basename at the top", []FilterRule{{Pattern: "*.o"}}, "c.o", false, true},
		{"star stays in one element", []FilterRule{{Pattern: "a*c"}}, "ab/c", false, false},
		{"anchored at the top", []FilterRule{{Pattern: "/build"}}, "build", true, true},
		{"anchored not deeper", []FilterRule{{Pattern: "/build"}}, "src/build", true, false},
		{"slash inside matches the end", []FilterRule{{Pattern: "cache/tmp"}}, "x/cache/tmp", true, true},
		{"slash inside not a suffix", []FilterRule{{Pattern: "cache/tmp"}}, "cache/tmp2", true, false},
		{"double star", []FilterRule{{Pattern: "/a/**/z"}}, "a/b/c/z", false, true},
		{"double star zero elements", []FilterRule{{Pattern: "/a/**/z"}}, "a/z", false, true},
		{"dir only matches a dir", []FilterRule{{Pattern: "node_modules/"}}, "web/node_modules", true, true},
		{"dir only skips a file", []FilterRule{{Pattern: "node_modules/"}}, "web/node_modules", false, false},
		{"first match wins: include first", []FilterRule{{Include: true, Pattern: "keep.log"}, {Pattern: "*.log"}}, "d/keep.log", false, false},
		{"first match wins: exclude first", []FilterRule{{Pattern: "*.log"}, {Include: true, Pattern: "keep.log"}}, "d/keep.log", false, true},
		{"include alone changes nothing", []FilterRule{{Include: true, Pattern: "x"}}, "y", false, false},
		{"top never excluded", []FilterRule{{Pattern: "*"}}, ".", true, false},
		{"class", []FilterRule{{Pattern: "f[0-9]"}}, "d/f7", false, true},
		{"alternatives", []FilterRule{{Pattern: "*.{o,a}"}}, "lib.a", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := NewFilter(tt.rules)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Excluded(tt.path, tt.dir); got != tt.want {
				t.Errorf("Excluded(%q, dir=%v): got %v, want %v", tt.path, tt.dir, got, tt.want)
			}
		})
	}
	var nilFilter *Filter
	if nilFilter.Excluded("a", false) {
		t.Error("a nil Filter excluded a path")
	}
}

func TestFilterBadPattern(t *testing.T) {
	for _, p := range []string{"", "/", "a[b", "{x"} {
		if _, err := NewFilter([]FilterRule{{Pattern: p}}); !errors.Is(err, ErrBadPattern) {
			t.Errorf("NewFilter(%q): got %v, want ErrBadPattern", p, err)
		}
	}
}

// filterTree makes a source tree for the filter tests: files kept, files
// excluded by pattern, and an excluded directory holding a dangling
// link, which fails as not_found if it is ever walked.
func filterTree(t *testing.T, dir string) string {
	t.Helper()
	src := filepath.Join(dir, "tree")
	for _, p := range []string{"a.txt", "b.o", "keep.o", "sub/c.txt", "sub/d.o", "build/x", "src/build/y", "cache/z"} {
		writeTestFile(t, filepath.Join(src, filepath.FromSlash(p)), []byte(p))
	}
	if err := os.Symlink("nowhere", filepath.Join(src, "cache", "dangling")); err != nil {
		t.Skip("symlinks:", err)
	}
	return src
}

func TestFilterPushPull(t *testing.T) {
	ts, c := startWithClient(t)
	ctx := testCtx(t)
	src := filterTree(t, t.TempDir())
	flt, err := NewFilter([]FilterRule{{Include: true, Pattern: "keep.o"}, {Pattern: "*.o"}, {Pattern: "/build"}, {Pattern: "cache/"}})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Recursive: true, Filter: flt}
	want := []string{"d/tree/a.txt", "d/tree/keep.o", "d/tree/src/build/y", "d/tree/sub/c.txt"}

	rep, err := c.Push(ctx, []string{src}, "d", opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := donePaths(rep); !slices.Equal(got, want) {
		t.Errorf("push: got %v, want %v (failed: %v)", got, want, rep.Err())
	}
	for _, p := range []string{"b.o", "sub/d.o", "build", "cache"} {
		if _, err := os.Lstat(filepath.Join(ts.root, "d", "tree", filepath.FromSlash(p))); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("push: %s on the server: got %v, want it absent", p, err)
		}
	}

	// The server's tree gets what the filter leaves out, and a pull
	// with the same filter leaves it out again (cache/ holds a dangling
	// link there too: never listed, so no failure).
	writeTestFile(t, filepath.Join(ts.root, "full", "b.o"), []byte("b.o"))
	writeTestFile(t, filepath.Join(ts.root, "full", "build", "x"), []byte("x"))
	writeTestFile(t, filepath.Join(ts.root, "full", "a.txt"), []byte("a"))
	writeTestFile(t, filepath.Join(ts.root, "full", "src", "build", "y"), []byte("y"))
	if err := os.MkdirAll(filepath.Join(ts.root, "full", "cache"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("nowhere", filepath.Join(ts.root, "full", "cache", "dangling2")); err != nil {
		t.Fatal(err)
	}
	local := t.TempDir()
	rep, err = c.Pull(ctx, []string{"full"}, local, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Count(Failed) != 0 {
		t.Errorf("pull: %v", rep.Err())
	}
	for _, p := range []string{"b.o", "build", "cache"} {
		if _, err := os.Lstat(filepath.Join(local, "full", filepath.FromSlash(p))); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("pull: %s: got %v, want it absent", p, err)
		}
	}
	for _, p := range []string{"a.txt", "src/build/y"} {
		if _, err := os.Stat(filepath.Join(local, "full", filepath.FromSlash(p))); err != nil {
			t.Errorf("pull: %s: %v", p, err)
		}
	}
}

// donePaths lists the paths of a report's files that arrived, sorted.
func donePaths(rep *Report) []string {
	var out []string
	for _, f := range rep.Files {
		if f.State == Done {
			out = append(out, f.Path)
		}
	}
	slices.Sort(out)
	return out
}

// writeTestFile writes data to p, creating its parent directories.
func writeTestFile(t testing.TB, p string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

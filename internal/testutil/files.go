package testutil

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// WriteRandom writes size random bytes to path, creating its directory,
// and returns them.
func WriteRandom(t testing.TB, path string, size int) []byte {
	t.Helper()
	b := make([]byte, size)
	rand.Read(b)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// SameFile fails the test unless the file at path holds exactly want.
func SameFile(t testing.TB, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: got %d bytes, want %d identical bytes", path, len(got), len(want))
	}
}

// NoPartials fails the test if a file of an unfinished transfer is left
// anywhere under dir: a name holding ".qxfer.", as the partial file
// (.name.qxfer.part) and its resume record (.name.qxfer.resume) do.
func NoPartials(t testing.TB, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".qxfer.") {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})
}

// NoFile fails the test unless nothing exists at p (a dangling symlink
// counts as something).
func NoFile(t testing.TB, p string) {
	t.Helper()
	if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s: got %v, want no such file", p, err)
	}
}

// DirNames returns the names in dir, sorted.
func DirNames(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// SameDirNames fails the test unless dir holds exactly the names want,
// in any order; what names the directory in the message.
func SameDirNames(t testing.TB, what, dir string, want ...string) {
	t.Helper()
	got := DirNames(t, dir)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Errorf("%s: got entries %q, want %q", what, got, want)
	}
}

// OutsideDir makes a directory beside root, holding one file "secret",
// and a symlink root/out pointing at it, and returns the directory: what
// a path attack would reach if the server followed the link out of its
// root.
func OutsideDir(t testing.TB, root string) string {
	t.Helper()
	out := t.TempDir()
	if err := os.WriteFile(filepath.Join(out, "secret"), []byte("top secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(out, filepath.Join(root, "out")); err != nil {
		t.Fatal(err)
	}
	return out
}

// TempRoot opens a fresh temporary directory as an os.Root and returns
// both; the root is closed when the test ends.
func TempRoot(t testing.TB) (string, *os.Root) {
	t.Helper()
	dir := t.TempDir()
	return dir, OpenRoot(t, dir)
}

// OpenRoot opens directory dir as an os.Root, closed when the test ends;
// failing to open it fails the test.
func OpenRoot(t testing.TB, dir string) *os.Root {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root
}

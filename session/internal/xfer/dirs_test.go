package xfer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/qxfer/qxfer/internal/testutil"
)

// TestKnownDirs: a directory is opened once and shared while held; a
// Forget in one KnownDirs makes every other sharing its Gen open the
// directory again; what a held directory writes stays in the directory
// that was opened, even once its name is a symlink to elsewhere.
func TestKnownDirs(t *testing.T) {
	top, root := testutil.TempRoot(t)
	var gen DirGen
	a, b := &KnownDirs{Gen: &gen}, &KnownDirs{Gen: &gen}
	defer a.Close()
	defer b.Close()

	d1, err := a.Open(root, "x/y", true)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := a.Open(root, "x/y", false)
	if err != nil {
		t.Fatal(err)
	}
	if d1 != d2 {
		t.Errorf("a second Open of x/y: got another directory, want the one held")
	}
	a.Release(d2)
	db, err := b.Open(root, "x/y", false)
	if err != nil {
		t.Fatal(err)
	}
	b.Release(db)

	// The directory moves away and a symlink to outside the root takes
	// its name: d1 still writes into the directory it opened.
	outside := t.TempDir()
	if err := os.Rename(filepath.Join(top, "x", "y"), filepath.Join(top, "moved")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(top, "x", "y")); err != nil {
		t.Fatal(err)
	}
	if err := d1.Root.WriteFile("f", []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	if !exists(t, top, "moved/f") || exists(t, outside, "f") {
		t.Errorf("a write through a held directory: got moved/f %v, outside/f %v; want the moved directory only",
			exists(t, top, "moved/f"), exists(t, outside, "f"))
	}
	a.Release(d1)

	// b still holds x/y; a's Forget (a rename or removal by a session)
	// makes b open it again, which now refuses the escaping symlink.
	a.Forget()
	if _, err := b.Open(root, "x/y", false); err == nil {
		t.Errorf("open of x/y after a Forget elsewhere: got the old directory, want the escaping symlink refused")
	}
	if _, err := a.Open(root, "x/y", false); err == nil {
		t.Errorf("open of x/y after a Forget: got a directory, want the escaping symlink refused")
	}
}

// TestKnownDirsBound: past maxKnownDirs the oldest directory is closed
// (once released) and the newest kept, so a big tree is never opened
// once per file.
func TestKnownDirsBound(t *testing.T) {
	_, root := testutil.TempRoot(t)
	k := &KnownDirs{}
	defer k.Close()
	first, err := k.Open(root, "d0", true)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= maxKnownDirs; i++ {
		d, err := k.Open(root, fmt.Sprintf("d%d", i), true)
		if err != nil {
			t.Fatal(err)
		}
		k.Release(d)
	}
	if _, err := first.Root.Stat("."); err != nil {
		t.Errorf("the oldest directory, evicted while held: got %v, want it open until released", err)
	}
	k.Release(first)
	if _, err := first.Root.Stat("."); !errors.Is(err, os.ErrClosed) {
		t.Errorf("the oldest directory once released: got %v, want it closed", err)
	}
	last := fmt.Sprintf("d%d", maxKnownDirs)
	k.mu.Lock()
	n, kept := len(k.dirs), k.dirs[last] != nil
	k.mu.Unlock()
	if n != maxKnownDirs || !kept {
		t.Errorf("after %d directories: got %d kept (newest kept: %v), want %d with the newest", maxKnownDirs+1, n, kept, maxKnownDirs)
	}
	d, err := k.Open(root, last, false)
	if err != nil {
		t.Fatal(err)
	}
	k.mu.Lock()
	shared := d.refs == 1 && !d.gone
	k.mu.Unlock()
	k.Release(d)
	if !shared {
		t.Errorf("the newest directory: got a fresh open, want the one kept")
	}
}

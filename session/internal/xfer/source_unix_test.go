//go:build unix

package xfer

import (
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/session/internal/wire"
)

// TestOpenWalked: a file the walk saw as regular opens with its meta; one
// replaced since by a FIFO (no writer) or a directory is refused with
// not_regular at once, the open never waiting for a writer.
func TestOpenWalked(t *testing.T) {
	dir := t.TempDir()
	reg := filepath.Join(dir, "f")
	if err := os.WriteFile(reg, []byte("hello"), 0o640); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	src, meta, err := OpenWalked(LocalFS{}, reg, "f")
	if err != nil {
		t.Fatalf("OpenWalked(f): %v", err)
	}
	src.Close()
	if meta.Size != 5 || meta.Mode != 0o640 {
		t.Errorf("OpenWalked(f): got size %d mode %v, want 5 and -rw-r-----", meta.Size, meta.Mode)
	}
	for _, name := range []string{fifo, dir} {
		done := make(chan error, 1)
		go func() {
			src, _, err := OpenWalked(LocalFS{}, name, name)
			if err == nil {
				src.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if got := codeOfErr(err); got != wire.NotRegular {
				t.Errorf("OpenWalked(%s): got %v (%v), want not_regular", name, got, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("OpenWalked(%s): still waiting after 10 s, want an immediate refusal", name)
		}
	}
}

// TestOpenSourceIn: a file four directories down opens with its meta, as
// does one reached by a relative symlink inside the root; a symlink
// leading out of the root (absolute or relative) is refused with
// invalid_path, a directory or a FIFO with not_regular at once, a missing
// file with not_found. On Linux the lookup takes no path walk of
// os.Root: it still works once the root is closed.
func TestOpenSourceIn(t *testing.T) {
	top := t.TempDir()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(top, "a/b/c/d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(top, "a/b/c/d/f"), []byte("hello"), 0o640); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{"in": "a/b/c/d/f", "abs": filepath.Join(outside, "secret")}
	rel, err := filepath.Rel(filepath.Join(top, "a"), filepath.Join(outside, "secret"))
	if err != nil {
		t.Fatal(err)
	}
	links["a/rel"] = rel
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(top, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(top, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	root := testutil.OpenRoot(t, top)
	dirs := &KnownDirs{}
	defer dirs.Close()
	tests := []struct {
		name string
		p    string
		want ErrorCode // wire.NoError: opens, 5 bytes
	}{
		{"four directories down", "a/b/c/d/f", wire.NoError},
		{"relative symlink inside", "in", wire.NoError},
		{"absolute symlink out", "abs", wire.InvalidPath},
		{"relative symlink out", "a/rel", wire.InvalidPath},
		{"directory", "a/b", wire.NotRegular},
		{"fifo", "fifo", wire.NotRegular},
		{"missing", "a/nothing", wire.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan struct{})
			var src Source
			var meta FileMeta
			var err error
			go func() {
				defer close(done)
				src, meta, err = OpenSourceIn(root, dirs, tt.p)
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("OpenSourceIn(%q): still waiting after 10 s", tt.p)
			}
			if err == nil {
				defer src.Close()
			}
			got := wire.NoError
			if err != nil {
				got = codeOfErr(err)
			}
			if got != tt.want {
				t.Fatalf("OpenSourceIn(%q): got %v (%v), want %v", tt.p, got, err, tt.want)
			}
			if err == nil && meta.Size != 5 {
				t.Errorf("OpenSourceIn(%q): got %d bytes, want 5", tt.p, meta.Size)
			}
		})
	}
	if runtime.GOOS != "linux" {
		return
	}
	root.Close()
	src, _, err := OpenSourceIn(root, dirs, "a/b/c/d/f")
	if err != nil {
		t.Fatalf("OpenSourceIn with the root closed: got %v, want the file opened through the root's descriptor", err)
	}
	src.Close()
}

// TestDirWithoutLinks: on Linux a directory with no symlink on its path
// (the root, one four levels down) is told apart from one reached
// through a link, from a link to a directory outside the root, from a
// file and from a missing path; elsewhere, and without dirs, it always
// says false, so the caller checks.
func TestDirWithoutLinks(t *testing.T) {
	top := t.TempDir()
	if err := os.MkdirAll(filepath.Join(top, "a/b/c/d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(top, "a/f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"a/l": "b", "out": t.TempDir(), "a/b/c/d/loop": "../.."} {
		if err := os.Symlink(target, filepath.Join(top, name)); err != nil {
			t.Fatal(err)
		}
	}
	root := testutil.OpenRoot(t, top)
	var dirs KnownDirs
	defer dirs.Close()
	plain := runtime.GOOS == "linux"
	for p, want := range map[string]bool{
		".": plain, "a/b/c/d": plain,
		"a/l": false, "a/l/c": false, "a/b/c/d/loop": false, "out": false,
		"a/f": false, "a/missing": false, "..": false,
	} {
		if got := DirWithoutLinks(root, &dirs, p); got != want {
			t.Errorf("DirWithoutLinks(%q) = %v, want %v", p, got, want)
		}
	}
	if DirWithoutLinks(root, nil, ".") {
		t.Error("DirWithoutLinks with no dirs: true, want false")
	}
}

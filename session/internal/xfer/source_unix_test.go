//go:build unix

package xfer

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

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

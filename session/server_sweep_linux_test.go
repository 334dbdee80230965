//go:build linux

package session

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// TestSweepSparesLockedPart: an old partial whose .part another process
// is receiving (it holds the lock, as a second server on the same root
// would) is not swept; once the lock is gone, it is. Linux only: it
// takes flock directly, as a receiver on Linux does.
func TestSweepSparesLockedPart(t *testing.T) {
	const ttl = time.Hour
	root := t.TempDir()
	part := plant(t, root, xfer.PartName("busy.bin"), 2*ttl)
	plant(t, root, xfer.RecordName("busy.bin"), 2*ttl)
	f, err := os.OpenFile(part, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, ServerConfig{Root: root}, nil)
	if n := ts.srv.sweepPartials(context.Background(), time.Now().Add(-ttl)); n != 0 {
		t.Errorf("sweep with the .part locked: removed %d partials, want 0", n)
	}
	if _, err := os.Stat(part); err != nil {
		t.Errorf("locked .part: %v; want it kept", err)
	}
	f.Close()
	if n := ts.srv.sweepPartials(context.Background(), time.Now().Add(-ttl)); n != 1 {
		t.Errorf("sweep after the lock went: removed %d partials, want 1", n)
	}
	testutil.NoFile(t, part)
}

package xfer

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/session/internal/wire"
)

// TestReceiverLock: a second receiver of a destination whose .part is
// held fails at once with Busy and touches nothing; once the first gives
// the file up, the next one gets it.
func TestReceiverLock(t *testing.T) {
	_, root := testutil.TempRoot(t)
	meta := FileMeta{Size: 1000, Mode: 0o644, MTime: time.Unix(1700000000, 5)}
	cfg := ReceiverConfig{Root: root, Path: "f", Meta: meta}
	first, _, err := OpenReceiver(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, noResume := range []bool{false, true} {
		c := cfg
		c.NoResume = noResume
		_, _, err := OpenReceiver(c)
		var e *Error
		if !errors.As(err, &e) || e.Code != wire.Busy || !strings.Contains(e.Msg, "another process") {
			t.Errorf("second receiver (no resume %v): got %v, want busy naming another process", noResume, err)
		}
	}
	fi, err := root.Stat(PartName("f"))
	if err != nil || fi.Size() != int64(meta.Size) {
		t.Errorf("the first receiver's .part: got %v, %v, want it untouched, %d bytes", fi, err, meta.Size)
	}
	first.Abandon(wire.Cancelled)
	next, _, err := OpenReceiver(cfg)
	if err != nil {
		t.Fatalf("after the first gave up: got %v, want the .part", err)
	}
	next.Abandon(wire.Cancelled)
}

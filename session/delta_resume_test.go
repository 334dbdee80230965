package session

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/internal/udpproxy"
	"github.com/qxfer/qxfer/quicx"
)

// TestDeltaKillResume kills a delta transfer after the receiver seeded
// its .part and received part of the changed bytes, then runs it again:
// the receiver's record holds the seeded chunks and what had arrived, so
// the second run sends only the changed bytes still missing, and no new
// delta is needed.
func TestDeltaKillResume(t *testing.T) {
	const (
		name    = "f.img"
		size    = 24 << 20
		changed = 8 << 20 // a run of new bytes in the middle
		killAt  = 2 << 20
	)
	for _, dir := range []Direction{Push, Pull} {
		t.Run(dir.String(), func(t *testing.T) {
			ts := startServer(t, ServerConfig{}, nil)
			slow := throttledProxy(t, ts, udpproxy.Config{RateBits: 40e6})
			id := newIdentity(t)
			local, src, dst := transferDirs(t, dir, ts)
			r := rand.New(rand.NewPCG(7, 7))
			old := make([]byte, size)
			fillRandom(r, old)
			newer := make([]byte, size)
			copy(newer, old)
			fillRandom(r, newer[8<<20:8<<20+changed])
			if err := os.WriteFile(filepath.Join(dst, name), old, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(src, name), newer, 0o644); err != nil {
				t.Fatal(err)
			}
			run := transferOf(dir, local, name, Options{Force: true})
			first := dialAs(t, ts, id, slow.Addr().String(), quicx.Config{})
			killDuring(t, first, run, func() int64 { return received(receiverTable(dir, ts, first.Transfers()), name) }, killAt)
			testutil.Eventually(t, hangAfter, "the server to end the transfer", func() bool { return ts.srv.Transfers().Len() == 0 })
			rec := checkDurable(t, dst, name, metaOfFile(t, filepath.Join(src, name)), size-changed)
			testutil.SameFile(t, filepath.Join(dst, name), old) // untouched until the rename

			fast := throttledProxy(t, ts, udpproxy.Config{})
			f := onlyFile(t, "second run", run, dialAs(t, ts, id, fast.Addr().String(), quicx.Config{}))
			if f.State != Done {
				t.Fatalf("second run: got state %s (err %v), want done", f.State, f.Err)
			}
			remaining := int64(size) - int64(durableBytes(rec))
			if f.Bytes != remaining {
				t.Errorf("second run: got %d bytes moved, want the %d the record lacks", f.Bytes, remaining)
			}
			if moved := wireBytes(fast); moved > uint64(changed) {
				t.Errorf("second run: %d bytes on the wire, want at most the %d changed", moved, changed)
			}
			t.Logf("%d bytes durable after the kill; second run moved %d (%d on the wire)", durableBytes(rec), f.Bytes, wireBytes(fast))
			testutil.SameFile(t, filepath.Join(dst, name), newer)
			testutil.NoPartials(t, dst)
		})
	}
}

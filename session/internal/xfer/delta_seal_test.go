package xfer

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/session/internal/wire"
)

// TestSenderDelta: a sender told its receiver seeded a delta sends only
// the bytes outside the offer and seals with their BLAKE3-256, which
// the seeded receiver accepts; a seal of the other kind on either side
// (a plain sender to a delta receiver, a delta sender to a plain one)
// fails the receiver with hash_mismatch and makes no file.
func TestSenderDelta(t *testing.T) {
	const size = 4 << 20
	tests := []struct {
		name         string
		seeded, seal bool // the receiver seeded a delta; the sender seals one
		want         ErrorCode
	}{
		{"delta", true, true, wire.NoError},
		{"plain seal to a delta", true, false, wire.HashMismatch},
		{"delta seal to a plain receiver", false, true, wire.HashMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lb, ctx := newLoopback(t)
			_, data, f, meta := openTestSource(t, size)
			dir, root := testutil.TempRoot(t)
			old := bytes.Clone(data)
			for _, off := range []int{100 << 10, 2 << 20} {
				copy(old[off:], randomBytes(uint64(off), 64<<10))
			}
			if err := os.WriteFile(filepath.Join(dir, "old.bin"), old, 0o644); err != nil {
				t.Fatal(err)
			}
			base := OpenDeltaBase(root, "old.bin")
			if base == nil {
				t.Fatal("OpenDeltaBase: nil for a 4 MiB regular file")
			}
			defer base.Close()
			var literal uint64
			seed := func(rc *Receiver) (Offer, error) {
				var ix Index
				if err := rc.SignPrefilled(ctx, base, func(cs []wire.SigChunk, last bool) error { return ix.Add(cs, "out.bin") }); err != nil {
					return Offer{}, err
				}
				po := NewPlanOps(meta.Size, "out.bin")
				if _, err := Plan(ctx, bytes.NewReader(data), &ix, func(o []wire.CopyOp, last bool) error { return po.Add(o) }); err != nil {
					return Offer{}, err
				}
				if !tc.seeded {
					// Signed, but offered as a plain receiver would.
					return Offer{}, nil
				}
				offer, err := rc.Seed(ctx, base, po)
				held, _ := RangeSetOf(offer.Have, size)
				literal = size - held.Total()
				return offer, err
			}
			scfg := SenderConfig{Path: "src.bin", File: f, Meta: meta, Delta: tc.seal}
			o := lb.runSeeded(ctx, 3, ReceiverConfig{Root: root, Path: "out.bin", Meta: meta}, scfg, seed)
			if got := codeOfErr(o.recvErr); (tc.want == wire.NoError) != (o.recvErr == nil) || (o.recvErr != nil && got != tc.want) {
				t.Fatalf("receiver: got %v, want %v (sender %v)", o.recvErr, tc.want, o.sendErr)
			}
			if tc.want != wire.NoError {
				if exists(t, dir, "out.bin") {
					t.Error("a file was made under the wrong kind of seal")
				}
				testutil.NoPartials(t, dir)
				return
			}
			testutil.SameFile(t, filepath.Join(dir, "out.bin"), data)
			// Two edits change at most 3 chunks each.
			if literal == 0 || literal > 6*ChunkMax || o.sent != int64(literal) {
				t.Errorf("sent %d bytes, want the %d outside the offer (1 to %d)", o.sent, literal, 6*ChunkMax)
			}
		})
	}
}

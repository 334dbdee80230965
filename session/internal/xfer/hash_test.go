package xfer

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/session/internal/wire"
)

// TestReceiverHash: the receiver hashes bytes written in order as they
// are written, reads back only those that came out of order, hashes the
// whole file again when a range is rewritten below what it has hashed,
// and fails a file whose hash is not the seal's with hash_mismatch,
// removing the .part and its record.
func TestReceiverHash(t *testing.T) {
	const (
		mib  = 1 << 20
		size = 4*mib + 3
	)
	inOrder := [][2]uint64{{0, mib}, {mib, mib}, {2 * mib, mib}, {3 * mib, mib + 3}}
	reversed := [][2]uint64{{3 * mib, mib + 3}, {2 * mib, mib}, {mib, mib}, {0, mib}}
	tests := []struct {
		name   string
		ranges [][2]uint64 // fed in this order
		// interrupt, when not 0, ends the receiver after that many
		// ranges; a new one resumes and takes the others.
		interrupt int
		// wantHashed is how much the (last) receiver has hashed
		// before Wait starts its catch-up hasher: the bytes written
		// in order.
		wantHashed uint64
		// rewrite is a range written again, with other bytes, once
		// all are in.
		rewrite *[2]uint64
		// sameBytes rewrites with the same bytes (a duplicate).
		sameBytes bool
		badSeal   bool
		want      ErrorCode
	}{
		{name: "in order", ranges: inOrder, wantHashed: size},
		{name: "one range", ranges: [][2]uint64{{0, size}}, wantHashed: size},
		{name: "out of order", ranges: reversed, wantHashed: mib},
		// Bytes written ahead of the prefix are read back, even
		// once the gap before them fills.
		{name: "a range ahead of the prefix", ranges: [][2]uint64{{2 * mib, mib}, {0, mib}, {mib, mib}, {3 * mib, mib + 3}}, wantHashed: 2 * mib},
		{name: "first range not first", ranges: [][2]uint64{{mib, mib}, {3 * mib, mib + 3}, {2 * mib, mib}, {0, mib}}, wantHashed: mib},
		{name: "duplicate of a hashed range", ranges: inOrder, wantHashed: size, rewrite: &[2]uint64{mib, mib}, sameBytes: true},
		{name: "rewrite of a hashed range with other bytes", ranges: inOrder, wantHashed: size, rewrite: &[2]uint64{mib, mib}, want: wire.HashMismatch},
		{name: "rewrite of the first bytes with other bytes", ranges: inOrder, wantHashed: size, rewrite: &[2]uint64{0, 1}, want: wire.HashMismatch},
		{name: "rewrite of a range read back with other bytes", ranges: reversed, wantHashed: mib, rewrite: &[2]uint64{3 * mib, 10}, want: wire.HashMismatch},
		{name: "wrong seal", ranges: inOrder, wantHashed: size, badSeal: true, want: wire.HashMismatch},
		{name: "wrong seal, out of order", ranges: reversed, wantHashed: mib, badSeal: true, want: wire.HashMismatch},
		{name: "resumed", ranges: reversed, interrupt: 2, wantHashed: mib},
		{name: "resumed in order", ranges: inOrder, interrupt: 2, wantHashed: 0},
		{name: "wrong seal after a resume", ranges: reversed, interrupt: 2, wantHashed: mib, badSeal: true, want: wire.HashMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newRecvFixture(t, size)
			rc, _ := f.open(t, "out.bin")
			feed := func(rs [][2]uint64) {
				t.Helper()
				for _, r := range rs {
					if e := f.feed(t, rc, r[0], r[1]); e != nil {
						t.Fatalf("range %v: %v", r, e)
					}
				}
			}
			rest := tc.ranges
			if tc.interrupt > 0 {
				feed(tc.ranges[:tc.interrupt])
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				if err := rc.Wait(ctx); codeOfErr(err) != wire.Cancelled {
					t.Fatalf("interrupted Wait: got %v, want %v", err, wire.Cancelled)
				}
				if !exists(t, f.dir, RecordName("out.bin")) {
					t.Fatalf("no record after the interruption")
				}
				rc, _ = f.open(t, "out.bin")
				rest = tc.ranges[tc.interrupt:]
			}
			feed(rest)

			// Wait has not started the catch-up hasher: what is
			// hashed was hashed as it was written.
			rc.ph.mu.Lock()
			hashed, rehash := rc.ph.n, rc.rehash
			rc.ph.mu.Unlock()
			if hashed != tc.wantHashed {
				t.Errorf("hashed as written: got %d bytes, want %d", hashed, tc.wantHashed)
			}
			if rehash {
				t.Errorf("got a rehash after ranges written once, want none")
			}

			seal := f.seal() // of the source as sent first
			if tc.badSeal {
				seal[len(seal)-1] ^= 1
			}
			data := f.data
			if r := tc.rewrite; r != nil {
				data = bytes.Clone(f.data)
				if !tc.sameBytes {
					for i := r[0]; i < r[0]+r[1]; i++ {
						data[i] ^= 0x5a
					}
				}
				if e := rc.receiveRange(context.Background(), bytes.NewReader(data[r[0]:r[0]+r[1]]), wire.RangeHeader{Offset: r[0], Length: r[1]}); e != nil {
					t.Fatalf("rewrite %v: %v", *r, e)
				}
			}
			rc.SetSeal(seal)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := rc.Wait(ctx)
			if got := codeOfErr(err); (err == nil && tc.want != wire.NoError) || (err != nil && got != tc.want) {
				t.Fatalf("Wait: got %v, want %v", err, tc.want)
			}
			if tc.want == wire.NoError {
				testutil.SameFile(t, filepath.Join(f.dir, "out.bin"), data)
			} else if exists(t, f.dir, "out.bin") {
				t.Errorf("destination exists after %v", tc.want)
			}
			testutil.NoPartials(t, f.dir)
		})
	}
}

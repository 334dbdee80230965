package xfer

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/session/internal/wire"
)

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// changedBytes is how many bytes of newer lie in chunks that old does
// not hold (by sum): what a delta from old to newer sends.
func changedBytes(t testing.TB, old, newer []byte) uint64 {
	t.Helper()
	oldSums := map[wire.ChunkSum]bool{}
	for _, c := range chunksOf(t, old) {
		oldSums[c.Sum] = true
	}
	var n uint64
	for _, c := range chunksOf(t, newer) {
		if !oldSums[c.Sum] {
			n += c.Length
		}
	}
	return n
}

func chunksOf(t testing.TB, b []byte) []Chunk {
	t.Helper()
	var cs []Chunk
	if err := Chunks(context.Background(), bytes.NewReader(b), func(c Chunk) error { cs = append(cs, c); return nil }); err != nil {
		t.Fatal(err)
	}
	return cs
}

// TestChunksShift: chunks cover the file, keep within their bounds,
// average about 64 KiB, and an insertion at the front leaves the chunks
// after it unchanged (content-defined cuts).
func TestChunksShift(t *testing.T) {
	data := randomBytes(1, 16<<20)
	cs := chunksOf(t, data)
	var off uint64
	for i, c := range cs {
		if c.Offset != off {
			t.Fatalf("chunk %d at %d, want %d", i, c.Offset, off)
		}
		if c.Length > ChunkMax || (c.Length < ChunkMin && i < len(cs)-1) {
			t.Errorf("chunk %d of %d bytes, want %d to %d", i, c.Length, ChunkMin, ChunkMax)
		}
		off += c.Length
	}
	if off != uint64(len(data)) {
		t.Fatalf("chunks cover %d bytes, want %d", off, len(data))
	}
	if avg := len(data) / len(cs); avg < 48<<10 || avg > 96<<10 {
		t.Errorf("average chunk %d bytes, want about 64 KiB", avg)
	}
	shifted := chunksOf(t, append([]byte("a few bytes inserted at the front"), data...))
	sums := map[wire.ChunkSum]bool{}
	for _, c := range cs {
		sums[c.Sum] = true
	}
	same := 0
	for _, c := range shifted {
		if sums[c.Sum] {
			same++
		}
	}
	if same < len(cs)-2 {
		t.Errorf("%d of %d chunks unchanged after an insertion at the front, want all but the first two", same, len(cs))
	}
}

// TestPlanOpsRefuses: a plan that does not fit the new version is
// bad_delta.
func TestPlanOpsRefuses(t *testing.T) {
	const size = 1 << 20
	tests := []struct {
		name string
		ops  []wire.CopyOp
	}{
		{"empty operation", []wire.CopyOp{{Offset: 0, Length: 0}}},
		{"too long", []wire.CopyOp{{Offset: 0, Length: ChunkMax + 1}}},
		{"past the end", []wire.CopyOp{{Offset: size - 10, Length: 11}}},
		{"overflowing offset", []wire.CopyOp{{Offset: 1<<64 - 5, Length: 10}}},
		{"overlap", []wire.CopyOp{{Offset: 0, Length: 100}, {Offset: 99, Length: 100}}},
		{"out of order", []wire.CopyOp{{Offset: 500, Length: 100}, {Offset: 0, Length: 100}}},
		{"too many", make([]wire.CopyOp, size/ChunkMin+2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			po := NewPlanOps(size, "f")
			if err := po.Add(tt.ops); codeOfErr(err) != wire.BadDelta {
				t.Errorf("got %v, want %v", err, wire.BadDelta)
			}
		})
	}
}

// TestSeed seeds a receiver from a plan and finishes the file with the
// ranges it lacks; a plan that names no chunk of the signature, or an
// old version changed since its signature, removes the .part (the first
// at once, the second once the background copy finds it).
func TestSeed(t *testing.T) {
	f := newRecvFixture(t, 4<<20)
	old := bytes.Clone(f.data)
	copy(old[1<<20:], randomBytes(2, 64<<10))
	if err := os.WriteFile(filepath.Join(f.dir, "old.bin"), old, 0o644); err != nil {
		t.Fatal(err)
	}
	base := OpenDeltaBase(f.root, "old.bin")
	if base == nil {
		t.Fatal("OpenDeltaBase: nil for a 4 MiB regular file")
	}
	defer base.Close()
	var ix Index
	if err := base.Signature(context.Background(), func(cs []wire.SigChunk, last bool) error { return ix.Add(cs, "f") }); err != nil {
		t.Fatal(err)
	}
	var ops []wire.CopyOp
	if _, err := Plan(context.Background(), bytes.NewReader(f.data), &ix, func(o []wire.CopyOp, last bool) error { ops = append(ops, o...); return nil }); err != nil {
		t.Fatal(err)
	}
	refused := func(t *testing.T, name string, bad []wire.CopyOp) {
		t.Helper()
		rc, _ := f.open(t, name)
		po := NewPlanOps(f.meta.Size, name)
		if err := po.Add(bad); err != nil {
			t.Fatal(err)
		}
		if _, err := rc.Seed(context.Background(), base, po); codeOfErr(err) != wire.BadDelta {
			t.Errorf("got %v, want %v", err, wire.BadDelta)
		}
		testutil.NoPartials(t, f.dir)
	}
	// seed opens a receiver of name and seeds it with the plan.
	seed := func(t *testing.T, name string) (*Receiver, Offer) {
		t.Helper()
		rc, _ := f.open(t, name)
		po := NewPlanOps(f.meta.Size, name)
		if err := po.Add(ops); err != nil {
			t.Fatal(err)
		}
		offer, err := rc.Seed(context.Background(), base, po)
		if err != nil {
			t.Fatal(err)
		}
		return rc, offer
	}
	t.Run("wrong sum", func(t *testing.T) {
		bad := slices.Clone(ops)
		bad[len(bad)/2].Sum[0] ^= 1
		refused(t, "bad.bin", bad)
	})
	t.Run("not a chunk", func(t *testing.T) {
		// The right sum and length, one byte off the chunk's start.
		bad := slices.Clone(ops)
		bad[len(bad)/2].Source++
		refused(t, "bad.bin", bad)
	})
	t.Run("seeded", func(t *testing.T) {
		rc, offer := seed(t, "out.bin")
		held, _ := RangeSetOf(offer.Have, f.meta.Size)
		// Exactly the new version's chunks that the old one lacks are
		// left to send (the data is random, so how many varies).
		if missing, want := f.meta.Size-held.Total(), changedBytes(t, old, f.data); missing == 0 || missing != want {
			t.Errorf("seeded all but %d bytes, want the %d bytes of the changed chunks", missing, want)
		}
		if offer.PrefixHash != nil || !rc.delta {
			t.Errorf("offer with prefix hash %x, delta %v: want a delta, verified by its chunks, with no prefix hash", offer.PrefixHash, rc.delta)
		}
		rc.wg.Wait() // the checkpoint Seed started in the background
		rec, _ := LoadRecord(f.root, "out.bin")
		if !rec.Matches(f.meta) {
			t.Fatalf("record after seeding: %+v, want one of the new version", rec)
		}
		if recorded := rec.Held(); recorded.Total() != held.Total() {
			t.Errorf("record after seeding holds %d bytes, want the %d seeded", recorded.Total(), held.Total())
		}
		for _, r := range held.Missing(f.meta.Size) {
			if e := f.feed(t, rc, r.Offset, r.Length); e != nil {
				t.Fatal(e)
			}
		}
		f.finish(t, rc, "seeded file")
		testutil.NoPartials(t, f.dir)
		if exists(t, f.dir, filepath.Base(RecordName("out.bin"))) {
			t.Error("record left after the file was finished")
		}
	})
	t.Run("range into a copied chunk", func(t *testing.T) {
		// The Seal of a delta covers only the bytes outside the offer:
		// a range stream into a copied chunk is refused, unwritten.
		rc, offer := seed(t, "into.bin")
		in := offer.Have[0]
		if e := rc.receiveRange(context.Background(), bytes.NewReader(make([]byte, 4096)), wire.RangeHeader{Offset: in.Offset, Length: 4096}); e == nil || e.Code != wire.ProtocolViolation {
			t.Errorf("range into [%d, +%d): got %v, want %v", in.Offset, in.Length, e, wire.ProtocolViolation)
		}
		if err := rc.Wait(context.Background()); codeOfErr(err) != wire.ProtocolViolation {
			t.Errorf("Wait: got %v, want %v", err, wire.ProtocolViolation)
		}
		if exists(t, f.dir, "into.bin") {
			t.Error("a file was made")
		}
		// protocol_violation is not a discard code: what the seeding
		// made durable before it stopped may stay, with its record,
		// for a resume; a .part with no record may not. Both go here,
		// so the next subtests find the directory clean.
		part, rec := PartName("into.bin"), RecordName("into.bin")
		if exists(t, f.dir, part) && !exists(t, f.dir, rec) {
			t.Error("a .part left with no record to resume it")
		}
		for _, name := range []string{part, rec} {
			if err := os.Remove(filepath.Join(f.dir, name)); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
		}
	})
	t.Run("old version changed", func(t *testing.T) {
		if err := os.Chtimes(filepath.Join(f.dir, "old.bin"), time.Now(), time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		// The change is found once the background copy is done: the
		// receiver fails, and keeps nothing.
		rc, _ := seed(t, "changed.bin")
		if err := rc.Wait(context.Background()); codeOfErr(err) != wire.BadDelta {
			t.Errorf("got %v, want %v", err, wire.BadDelta)
		}
		testutil.NoPartials(t, f.dir)
	})
}

// TestChunksStops: the cutting stops at fn's first error, which Chunks
// returns (fn is not called again), and at the end of ctx; either way no
// goroutine is left behind.
func TestChunksStops(t *testing.T) {
	testutil.LeakCheck(t)
	data := randomBytes(7, 8<<20)
	boom := errors.New("boom")
	calls := 0
	err := Chunks(context.Background(), bytes.NewReader(data), func(c Chunk) error {
		calls++
		if calls == 3 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || calls != 3 {
		t.Errorf("got %v after %d calls, want %v after 3", err, calls, boom)
	}
	ctx, cancel := context.WithCancel(context.Background())
	calls = 0
	err = Chunks(ctx, bytes.NewReader(data), func(c Chunk) error {
		if calls++; calls == 2 {
			cancel()
		}
		return nil
	})
	if codeOfErr(err) != wire.Cancelled || calls >= len(chunksOf(t, data)) {
		t.Errorf("got %v after %d calls, want %v before the end", err, calls, wire.Cancelled)
	}
}

// TestSenderDelta: a sender told its receiver seeded a delta sends only
// the bytes outside the offer and seals with their file hash, which the
// seeded receiver accepts; a plain seal (the whole file's) to a delta
// receiver fails it with hash_mismatch and makes no file; a delta seal
// to a plain receiver that offered nothing is the hash of every byte,
// the plain seal itself (protocol v3: one hash for both), so the whole
// file is sent and accepted; a sender
// whose file changed after the plan was made (a byte it sends, the mtime
// kept) fails with source_changed before it seals, and no file is made.
func TestSenderDelta(t *testing.T) {
	const size = 4 << 20
	tests := []struct {
		name         string
		seeded, seal bool // the receiver seeded a delta; the sender seals one
		change       bool // the sender's file changes after the plan
		want         ErrorCode
	}{
		{"delta", true, true, false, wire.NoError},
		{"plain seal to a delta", true, false, false, wire.HashMismatch},
		{"delta seal to a plain receiver", false, true, false, wire.NoError},
		{"source changed after the plan", true, true, true, wire.Cancelled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lb, ctx := newLoopback(t)
			src, data, f, meta := openTestSource(t, size)
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
				if tc.change && literal > 0 {
					off := held.Missing(size)[0].Offset
					keepMTime(t, src, func() { flipFileByte(t, src, int64(off)) })
				}
				return offer, err
			}
			scfg := SenderConfig{Path: "src.bin", File: f, Meta: meta, Delta: tc.seal, Chunks: chunksOf(t, data)}
			o := lb.runSeeded(ctx, 3, ReceiverConfig{Root: root, Path: "out.bin", Meta: meta}, scfg, seed)
			if got := codeOfErr(o.recvErr); (tc.want == wire.NoError) != (o.recvErr == nil) || (o.recvErr != nil && got != tc.want) {
				t.Fatalf("receiver: got %v, want %v (sender %v)", o.recvErr, tc.want, o.sendErr)
			}
			if tc.change {
				if codeOfErr(o.sendErr) != wire.SourceChanged || exists(t, dir, "out.bin") {
					t.Errorf("sender: got %v, want %v and no file", o.sendErr, wire.SourceChanged)
				}
				return
			}
			if tc.want != wire.NoError {
				if exists(t, dir, "out.bin") {
					t.Error("a file was made under the wrong kind of seal")
				}
				testutil.NoPartials(t, dir)
				return
			}
			testutil.SameFile(t, filepath.Join(dir, "out.bin"), data)
			if !tc.seeded {
				if o.sent != size {
					t.Errorf("sent %d bytes to a plain receiver, want the whole file, %d", o.sent, size)
				}
				return
			}
			if want := changedBytes(t, old, data); literal == 0 || literal != want || o.sent != int64(literal) {
				t.Errorf("sent %d bytes, %d outside the offer; want the %d bytes of the changed chunks", o.sent, literal, want)
			}
		})
	}
}

// TestMatcher: a sender's Matcher finds the chunks of the old version at
// their own offsets (edits in place, an append) and, once the versions
// have shifted, by CDC and their sums; every operation it plans copies
// bytes the two versions share, its chunks tile the new version, and it
// copies at least what a plan of the whole file cut by CDC copies, less
// at most 3 chunks a change.
func TestMatcher(t *testing.T) {
	const size = 8 << 20
	old := randomBytes(41, size)
	tests := []struct {
		name  string
		newer []byte
	}{
		{"edits in place", func() []byte {
			b := bytes.Clone(old)
			for i, off := range []int{100 << 10, 3 << 20, 7 << 20} {
				copy(b[off:], randomBytes(uint64(50+i), 64<<10))
			}
			return b
		}()},
		{"appended", append(bytes.Clone(old), randomBytes(51, 1<<20)...)},
		{"first 100 KiB removed", bytes.Clone(old[100<<10:])},
		{"bytes inserted half way", append(append(bytes.Clone(old[:4<<20]), randomBytes(52, 1000)...), old[4<<20:]...)},
		{"shares nothing", randomBytes(53, size)},
	}
	var sig []wire.SigChunk
	if err := Signature(context.Background(), bytes.NewReader(old), func(cs []wire.SigChunk, last bool) error {
		sig = append(sig, cs...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMatcher(bytes.NewReader(tc.newer), uint64(len(tc.newer)))
			defer m.Stop()
			for i := 0; i < len(sig); i += 40 { // in several frames
				if err := m.Add(context.Background(), sig[i:min(i+40, len(sig))], "f"); err != nil {
					t.Fatal(err)
				}
			}
			var ops []wire.CopyOp
			chunks, copied, err := m.Plan(context.Background(), func(o []wire.CopyOp, last bool) error { ops = append(ops, o...); return nil })
			if err != nil {
				t.Fatal(err)
			}
			var end uint64
			for _, c := range chunks {
				if c.Offset != end || c.Length == 0 {
					t.Fatalf("chunk [%d, +%d) after %d: the chunks do not tile the file", c.Offset, c.Length, end)
				}
				end += c.Length
			}
			if end != uint64(len(tc.newer)) {
				t.Fatalf("chunks end at %d, want %d", end, len(tc.newer))
			}
			var sum uint64
			for _, o := range ops {
				if !bytes.Equal(old[o.Source:o.Source+o.Length], tc.newer[o.Offset:o.Offset+o.Length]) {
					t.Fatalf("operation [%d, +%d) from %d copies bytes the versions do not share", o.Offset, o.Length, o.Source)
				}
				sum += o.Length
			}
			var ix Index
			if err := ix.Add(sig, "f"); err != nil {
				t.Fatal(err)
			}
			full, err := Plan(context.Background(), bytes.NewReader(tc.newer), &ix, func([]wire.CopyOp, bool) error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("copies %d of %d bytes; a plan of the whole file cut by CDC %d", copied, len(tc.newer), full)
			if sum != copied || copied+3*3*ChunkMax < full {
				t.Errorf("copies %d bytes (operations %d), want at least the %d of a whole-file plan less 3 chunks a change", copied, sum, full)
			}
		})
	}
}

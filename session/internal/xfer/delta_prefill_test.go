package xfer

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/session/internal/wire"
)

// prefilledSeed writes old as old.bin, opens a receiver of f's data as
// dest, signs old.bin into it with SignPrefilled, plans f's data against
// that signature, runs signed (if any), and seeds the receiver with the
// plan. It returns the receiver, the offer and the base (closed at the
// test's end).
func prefilledSeed(t *testing.T, f *recvFixture, old []byte, dest string, signed func()) (*Receiver, Offer, *Base) {
	t.Helper()
	oldPath := filepath.Join(f.dir, "old.bin")
	if err := os.WriteFile(oldPath, old, 0o644); err != nil {
		t.Fatal(err)
	}
	base := OpenDeltaBase(f.root, "old.bin")
	if base == nil {
		t.Fatal("OpenDeltaBase: nil for a regular file over 1 MiB")
	}
	t.Cleanup(func() { base.Close() })
	rc, _ := f.open(t, dest)
	var ix Index
	if err := rc.SignPrefilled(context.Background(), base, func(cs []wire.SigChunk, last bool) error { return ix.Add(cs, dest) }); err != nil {
		t.Fatal(err)
	}
	po := NewPlanOps(f.meta.Size, dest)
	if _, err := Plan(context.Background(), bytes.NewReader(f.data), &ix, func(o []wire.CopyOp, last bool) error { return po.Add(o) }); err != nil {
		t.Fatal(err)
	}
	if signed != nil {
		signed()
	}
	offer, err := rc.Seed(context.Background(), base, po)
	if err != nil {
		t.Fatal(err)
	}
	return rc, offer, base
}

// keepMTime sets p's mtime back to what it was before change ran, so a
// change of content alone is not seen by the size and mtime check.
func keepMTime(t *testing.T, p string, change func()) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	change()
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// flipFileByte inverts the byte at off of the file p.
func flipFileByte(t *testing.T, p string, off int64) {
	t.Helper()
	fh, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	b := []byte{0}
	if _, err := fh.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := fh.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestSeedPrefilled: the old version is written into the .part as it is
// signed when the new version is at least as long (edits in place, an
// append), and not when it is shorter; in every case the seeded and
// finished file is the new version, and no prefix hash is offered (a
// delta is verified by its chunks).
func TestSeedPrefilled(t *testing.T) {
	const size = 4 << 20
	tests := []struct {
		name      string
		old       func(data []byte) []byte
		prefilled func(old []byte) uint64
	}{
		{"edits in place", func(d []byte) []byte {
			old := bytes.Clone(d)
			for i, off := range []int{300 << 10, 2 << 20, 3<<20 + 5} {
				copy(old[off:], randomBytes(uint64(10+i), 64<<10))
			}
			return old
		}, func(old []byte) uint64 { return uint64(len(old)) }},
		{"appended", func(d []byte) []byte { return bytes.Clone(d[:size-(1<<20)]) },
			func(old []byte) uint64 { return uint64(len(old)) }},
		{"shrank", func(d []byte) []byte { return append(randomBytes(3, 100<<10), d...) },
			func([]byte) uint64 { return 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newRecvFixture(t, size)
			old := tt.old(f.data)
			rc, offer, _ := prefilledSeed(t, f, old, "out.bin", nil)
			if want := tt.prefilled(old); rc.prefilled != want {
				t.Errorf("prefilled %d bytes, want %d", rc.prefilled, want)
			}
			held, _ := RangeSetOf(offer.Have, f.meta.Size)
			if held.Total() < f.meta.Size/2 {
				t.Errorf("seeded %d of %d bytes, want most of them", held.Total(), f.meta.Size)
			}
			if offer.PrefixHash != nil {
				t.Errorf("prefix hash %x offered by a delta, want none", offer.PrefixHash)
			}
			for _, r := range held.Missing(f.meta.Size) {
				if e := f.feed(t, rc, r.Offset, r.Length); e != nil {
					t.Fatal(e)
				}
			}
			f.finish(t, rc, tt.name)
			testutil.NoPartials(t, f.dir)
		})
	}
}

// TestSeedPrefilledBaseChanged: the old version changes after its
// signature, its size and mtime kept. Chunks prefilled in place hold the
// bytes that were signed, so a change there is never copied and the file
// is right; a chunk that moved is hashed again as it is copied from the
// changed old version, which fails the receiver (bad_delta) and leaves no
// .part and no file. A byte of the .part changed after it was written is
// refused (hash_mismatch), whether it was prefilled (the read-back of the
// seeded chunks) or sent (the Seal's hash of the literal bytes).
func TestSeedPrefilledBaseChanged(t *testing.T) {
	const size = 4 << 20
	t.Run("in place", func(t *testing.T) {
		f := newRecvFixture(t, size)
		old := bytes.Clone(f.data)
		copy(old[1<<20:], randomBytes(4, 64<<10))
		oldPath := filepath.Join(f.dir, "old.bin")
		rc, offer, _ := prefilledSeed(t, f, old, "out.bin", func() {
			keepMTime(t, oldPath, func() { flipFileByte(t, oldPath, 3<<20) })
		})
		held, _ := RangeSetOf(offer.Have, f.meta.Size)
		if !held.Contains(3 << 20) {
			t.Fatal("the changed byte is not in a seeded range")
		}
		for _, r := range held.Missing(f.meta.Size) {
			if e := f.feed(t, rc, r.Offset, r.Length); e != nil {
				t.Fatal(e)
			}
		}
		f.finish(t, rc, "prefilled file")
	})
	t.Run("moved", func(t *testing.T) {
		// 100 KiB inserted near the front: the new version is longer
		// (prefilled), and every chunk after the insertion moved.
		f := newRecvFixture(t, size)
		old := append(bytes.Clone(f.data[:200<<10]), f.data[300<<10:]...)
		oldPath := filepath.Join(f.dir, "old.bin")
		rc, offer, _ := prefilledSeed(t, f, old, "moved.bin", func() {
			keepMTime(t, oldPath, func() { flipFileByte(t, oldPath, 2<<20) })
		})
		held, _ := RangeSetOf(offer.Have, f.meta.Size)
		if !held.Contains(2<<20 + 100<<10) {
			t.Fatal("the changed byte's new offset is not in a seeded range")
		}
		feedRestFails(t, f, rc, held, wire.BadDelta)
		if exists(t, f.dir, "moved.bin") {
			t.Error("a file was made of the changed old version")
		}
	})
	t.Run("part changed", func(t *testing.T) {
		// A prefilled byte of the .part changes after the prefill
		// wrote it and before the seeded chunks are read back.
		f := newRecvFixture(t, size)
		old := bytes.Clone(f.data)
		copy(old[1<<20:], randomBytes(5, 64<<10))
		rc, offer, _ := prefilledSeed(t, f, old, "part.bin", func() {
			flipFileByte(t, filepath.Join(f.dir, PartName("part.bin")), 3<<20)
		})
		held, _ := RangeSetOf(offer.Have, f.meta.Size)
		if !held.Contains(3 << 20) {
			t.Fatal("the changed byte is not in a seeded range")
		}
		feedRestFails(t, f, rc, held, wire.HashMismatch)
	})
	t.Run("literal changed", func(t *testing.T) {
		f := newRecvFixture(t, size)
		old := bytes.Clone(f.data)
		copy(old[1<<20:], randomBytes(5, 64<<10))
		rc, offer, _ := prefilledSeed(t, f, old, "part.bin", nil)
		held, _ := RangeSetOf(offer.Have, f.meta.Size)
		lit := held.Missing(f.meta.Size)
		if len(lit) == 0 {
			t.Fatal("nothing left to send")
		}
		for _, r := range lit {
			if e := f.feed(t, rc, r.Offset, r.Length); e != nil {
				t.Fatal(e)
			}
		}
		flipFileByte(t, filepath.Join(f.dir, PartName("part.bin")), int64(lit[0].Offset))
		feedRestFails(t, f, rc, rc.have, wire.HashMismatch)
	})
}

// feedRestFails sends rc the ranges of f outside held and seals it as
// f's sender would: the file must fail with code and leave no .part.
func feedRestFails(t *testing.T, f *recvFixture, rc *Receiver, held RangeSet, code ErrorCode) {
	t.Helper()
	for _, r := range held.Missing(f.meta.Size) {
		if e := f.feed(t, rc, r.Offset, r.Length); e != nil {
			t.Fatal(e)
		}
	}
	rc.SetSeal(f.sealFor(t, rc))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rc.Wait(ctx); codeOfErr(err) != code {
		t.Errorf("got %v, want %v", err, code)
	}
	testutil.NoPartials(t, f.dir)
}

// TestFinishSyncsWhileHashing: with most of the file left to hash at the
// end (earlySyncMin made 1 byte; ranges written back to front, so only
// the first is hashed as it is written), finish flushes the .part while
// it hashes; a right file is renamed with its content, a wrong one fails
// with hash_mismatch and leaves nothing, and neither leaves a goroutine.
// finish is called as Wait would, but with no read-back hasher started
// first, so what it hashes is known.
func TestFinishSyncsWhileHashing(t *testing.T) {
	old := earlySyncMin
	earlySyncMin = 1
	t.Cleanup(func() { earlySyncMin = old })
	const size, step = 4 << 20, 1 << 20
	for _, bad := range []bool{false, true} {
		t.Run(fmt.Sprintf("part changed=%v", bad), func(t *testing.T) {
			testutil.LeakCheck(t)
			f := newRecvFixture(t, size)
			rc, _ := f.open(t, "out.bin")
			for off := uint64(size - step); ; off -= step {
				if e := f.feed(t, rc, off, step); e != nil {
					t.Fatal(e)
				}
				if off == 0 {
					break
				}
			}
			rc.wg.Wait() // checkpoints
			if bad {
				flipFileByte(t, filepath.Join(f.dir, PartName("out.bin")), 3<<20)
			}
			rc.SetSeal(f.seal())
			rc.stopStreams(wire.UpToDate)
			if rc.ph.n > step {
				t.Fatalf("%d bytes hashed before finish, want at most %d", rc.ph.n, step)
			}
			err := rc.finish()
			rc.releaseDir()
			if !bad {
				if err != nil {
					t.Fatal(err)
				}
				testutil.SameFile(t, filepath.Join(f.dir, "out.bin"), f.data)
			} else if codeOfErr(err) != wire.HashMismatch {
				t.Errorf("got %v, want %v", err, wire.HashMismatch)
			}
			testutil.NoPartials(t, f.dir)
		})
	}
}

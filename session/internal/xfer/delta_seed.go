package xfer

import (
	"cmp"
	"context"
	"crypto/sha256"
	"hash"
	"io"
	"os"
	"slices"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// PlanOps collects the copy operations of a delta plan on the
// receiver's side, checking each against the new version as it comes:
// in increasing offset, disjoint, inside the file, 1 to ChunkMax bytes,
// and no more than a plan of real chunks can hold (Size/ChunkMin + 1),
// so a hostile plan cannot make it grow without bound. Their sources are
// checked by Seed, against the old version.
type PlanOps struct {
	size uint64 // of the new version
	path string
	end  uint64 // end of the last operation
	ops  []wire.CopyOp
}

// NewPlanOps returns an empty plan for a new version of size bytes, at
// destination path p (named in errors).
func NewPlanOps(size uint64, p string) *PlanOps { return &PlanOps{size: size, path: p} }

// Add appends ops; a misfit is wire.BadDelta (an *Error).
func (po *PlanOps) Add(ops []wire.CopyOp) error {
	if uint64(len(po.ops)+len(ops)) > po.size/ChunkMin+1 {
		return Errorf(wire.BadDelta, po.path, "delta plan of more than %d operations for %d bytes", po.size/ChunkMin+1, po.size)
	}
	for _, o := range ops {
		switch {
		case o.Length == 0 || o.Length > ChunkMax:
			return Errorf(wire.BadDelta, po.path, "delta operation of %d bytes (1 to %d allowed)", o.Length, ChunkMax)
		case o.Offset < po.end:
			return Errorf(wire.BadDelta, po.path, "delta operation at %d overlaps or precedes the one ending at %d", o.Offset, po.end)
		case o.Offset > po.size || o.Length > po.size-o.Offset:
			return Errorf(wire.BadDelta, po.path, "delta operation [%d, +%d) outside the file of %d bytes", o.Offset, o.Length, po.size)
		}
		po.end = o.Offset + o.Length
		po.ops = append(po.ops, o)
	}
	return nil
}

// Len returns the number of operations collected.
func (po *PlanOps) Len() int { return len(po.ops) }

// Seed copies the chunks of plan from base, the receiver's previous
// version (whose Signature was sent), into the .part of a receiver that
// holds nothing yet (OpenReceiver starting over), and returns the offer:
// the ranges the plan copies (coalesced; at most wire.MaxRanges, the
// shortest left out beyond that: they are sent) and the SHA-256 of the
// first when it starts at offset 0.
//
// Every operation must copy exactly a chunk of the signature (its start,
// length and BLAKE3-256), so the old bytes need not be read and hashed
// again: an operation that names no chunk of it is wire.BadDelta. Runs
// of operations (contiguous in both versions) that SignPrefilled already
// wrote at their offsets are not copied: they count as written at once.
// The run from offset 0 is read (from the .part when prefilled), hashed
// for the offer's prefix hash and written before Seed returns; the other
// runs are copied in the background by copyRange
// (copy_file_range(2) on Linux: the bytes never leave the kernel) while
// the sender sends the rest, and count as written, for the hash and for
// completion, as each is copied. Once all are, a base whose size or
// mtime changed meanwhile fails the receiver (wire.BadDelta; one changed
// without either is caught by the whole-file SHA-256, as any wrong byte
// is), and the seeded bytes are made durable and recorded as a
// checkpoint does (fsync, then the record), so a transfer cut off after
// that resumes with them. The background copy holds base open (Close
// leaves it to the copy) and is waited for like the range streams.
//
// On an error before the offer the receiver is finished (its .part
// removed, the destination untouched) and the error is an *Error.
func (rc *Receiver) Seed(ctx context.Context, base *Base, plan *PlanOps) (Offer, error) {
	p := rc.cfg.Path
	fail := func(err error) (Offer, error) {
		rc.Discard()
		return Offer{}, WithPath(AsError(err, p), p)
	}
	var runs []seedRun
	var have RangeSet
	for _, o := range plan.ops {
		if !base.named(o) {
			return fail(Errorf(wire.BadDelta, p, "delta operation copies [%d, +%d) of the old version, which is not a chunk of its signature with the plan's BLAKE3", o.Source, o.Length))
		}
		have.Add(o.Offset, o.Length)
		if k := len(runs) - 1; k >= 0 && runs[k].dst+runs[k].n == o.Offset && runs[k].src+runs[k].n == o.Source {
			runs[k].n += o.Length
			continue
		}
		runs = append(runs, seedRun{o.Offset, o.Source, o.Length})
	}
	if len(have.r) > wire.MaxRanges {
		// A record, and an offer, hold at most MaxRanges ranges: the
		// shortest are left out, and sent like the rest.
		short := slices.SortedFunc(slices.Values(have.r), func(a, b wire.Range) int { return cmp.Compare(a.Length, b.Length) })
		for _, r := range short[:len(have.r)-wire.MaxRanges] {
			have.Remove(r.Offset, r.Length)
		}
	}
	// A range left out holds whole runs: they are not copied.
	runs = slices.DeleteFunc(runs, func(r seedRun) bool { return !have.Contains(r.dst) })
	if len(runs) == 0 {
		return Offer{}, nil
	}
	// The runs that make the offer's first range, from offset 0, are
	// copied and hashed now: the offer carries their SHA-256.
	var sum []byte
	if runs[0].dst == 0 {
		var buf lazyChunk
		prefix := sha256.New()
		var hashed uint64
		for len(runs) > 0 && runs[0].dst == hashed {
			var err error
			if rc.inPlace(runs[0]) {
				// Prefilled: hashed as the .part holds it.
				err = hashRange(rc.f, hashed, runs[0].n, prefix, buf.get())
			} else {
				err = copyHashed(rc.f, base.f, runs[0].src, hashed, runs[0].n, prefix, buf.get())
			}
			if err != nil {
				buf.release()
				return fail(err)
			}
			hashed += runs[0].n
			runs = runs[1:]
		}
		buf.release()
		sum = prefix.Sum(nil)
		rc.ph.mu.Lock()
		rc.have.Add(0, hashed)
		rc.ph.h, rc.ph.n = prefix, hashed
		rc.ph.mu.Unlock()
	}
	// The prefilled runs are in place already: written, for the hash
	// and for completion, now.
	rc.ph.mu.Lock()
	for _, r := range runs {
		if rc.inPlace(r) {
			rc.have.Add(r.dst, r.n)
		}
	}
	rc.ph.signalLocked()
	rc.ph.mu.Unlock()
	runs = slices.DeleteFunc(runs, rc.inPlace)
	base.hold()
	rc.wg.Go(func() {
		defer base.Close()
		rc.seedRest(ctx, base, runs, have)
	})
	return Offer{Have: have.Ranges(), PrefixHash: sum}, nil
}

// seedRun is a run of copy operations contiguous in both versions.
type seedRun struct{ dst, src, n uint64 }

// seedCopyStep is the most bytes one copy of seedRest moves between
// checks that the receiver is still running.
const seedCopyStep = 32 << 20

// seedRest copies runs from base into the .part, adding each piece to
// what rc has written as it lands; then, the base found unchanged, it
// closes the offered ranges (have) and checkpoints them. A failure fails
// rc; a receiver that ended stops it. It runs in rc.wg.
func (rc *Receiver) seedRest(ctx context.Context, base *Base, runs []seedRun, have RangeSet) {
	p := rc.cfg.Path
	var buf lazyChunk // for a copy the kernel refuses
	defer buf.release()
	for _, r := range runs {
		for done := uint64(0); done < r.n; {
			rc.ph.mu.Lock()
			ended := rc.ended || rc.err != nil
			rc.ph.mu.Unlock()
			if ended {
				return
			}
			if ctx.Err() != nil {
				rc.Fail(WithPath(CauseError(ctx), p))
				return
			}
			k := min(seedCopyStep, r.n-done)
			if err := copyRange(rc.f, base.f, int64(r.dst+done), int64(r.src+done), int64(k), buf.get()); err != nil {
				rc.Fail(WithPath(AsError(err, p), p))
				return
			}
			startWriteback(rc.f, r.dst+done, k)
			rc.ph.mu.Lock()
			rc.have.Add(r.dst+done, k)
			rc.ph.signalLocked() // the hasher can go on
			rc.ph.mu.Unlock()
			done += k
		}
	}
	if !base.unchanged() {
		rc.Fail(Errorf(wire.BadDelta, p, "the old version changed while the delta was made"))
		return
	}
	rc.ph.mu.Lock()
	for _, r := range have.r {
		rc.whole.Add(r.Offset, r.Length)
	}
	rc.ph.signalLocked() // maybe the file is complete
	rc.ph.mu.Unlock()
	rc.checkpoint()
}

// copyHashed copies the n bytes of src at srcOff to dst at dstOff
// through buf, hashing them into h.
func copyHashed(dst, src *os.File, srcOff, dstOff, n uint64, h hash.Hash, buf []byte) error {
	for off := uint64(0); off < n; {
		b := buf[:min(uint64(len(buf)), n-off)]
		if _, err := src.ReadAt(b, int64(srcOff+off)); err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		h.Write(b)
		if _, err := dst.WriteAt(b, int64(dstOff+off)); err != nil {
			return err
		}
		off += uint64(len(b))
	}
	return nil
}

// Discard finishes a receiver that will not be used: its .part and
// record are removed.
func (rc *Receiver) Discard() {
	rc.f.Close()
	rc.removePartial()
}

package xfer

import (
	"cmp"
	"context"
	"slices"
	"sync"

	"github.com/zeebo/blake3"

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
// shortest left out beyond that: they are sent), with no prefix hash.
// An empty plan (the versions share nothing) seeds nothing: the
// transfer is then a plain one, checked by the whole-file hash.
//
// Otherwise the receiver verifies the file as a delta (PROTOCOL.md,
// "Delta", "Verification"): every operation must copy exactly a chunk
// of the signature (its start, length and BLAKE3-256), else
// wire.BadDelta; operations that SignPrefilled already wrote at their
// offsets count as written at once (the .part holds the bytes that were
// signed); the others are copied in the background while the sender
// sends the rest, each chunk's bytes hashed again as they are copied
// (copyVerified); once all are in the .part, every seeded chunk is read
// back and checked (verifySeeded); range streams may not write into the
// offered ranges (receiveRange); and the Seal it then waits for is the
// file hash (NewFileHash) of the bytes outside the offer, which finish checks
// against the .part. Once every chunk is copied, a base whose size or
// mtime changed meanwhile fails the receiver (wire.BadDelta), and the
// seeded bytes are made durable and recorded as a checkpoint does
// (fsync, then the record), so a transfer cut off after that resumes
// with them. The background copy holds base open (Close leaves it to the
// copy) and is waited for like the range streams.
//
// Seed takes plan's operations: plan is empty afterwards. On an error
// before the offer the receiver is finished (its .part removed, the
// destination untouched) and the error is an *Error.
func (rc *Receiver) Seed(ctx context.Context, base *Base, plan *PlanOps) (Offer, error) {
	p := rc.cfg.Path
	if len(plan.ops) == 0 {
		return Offer{}, nil
	}
	var have RangeSet
	for _, o := range plan.ops {
		if !base.named(o) {
			rc.Discard()
			return Offer{}, Errorf(wire.BadDelta, p, "delta operation copies [%d, +%d) of the old version, which is not a chunk of its signature with the plan's BLAKE3", o.Source, o.Length)
		}
		have.Add(o.Offset, o.Length)
	}
	if len(have.r) > wire.MaxRanges {
		// A record, and an offer, hold at most MaxRanges ranges: the
		// shortest are left out, and sent like the rest.
		short := slices.SortedFunc(slices.Values(have.r), func(a, b wire.Range) int { return cmp.Compare(a.Length, b.Length) })
		for _, r := range short[:len(have.r)-wire.MaxRanges] {
			have.Remove(r.Offset, r.Length)
		}
	}
	// A range left out holds whole operations: they are not copied.
	// The plan is not used again: its operations become those seeded
	// (read back by verifySeeded), in place, so a plan of 2^19 chunks
	// is held once (28 MiB), not twice.
	seeded := slices.DeleteFunc(plan.ops, func(o wire.CopyOp) bool { return !have.Contains(o.Offset) })
	plan.ops = nil
	var rest []wire.CopyOp
	rc.ph.mu.Lock()
	rc.delta, rc.deltaHave = true, have.Clone()
	for _, o := range seeded {
		if rc.inPlace(o) {
			rc.have.Add(o.Offset, o.Length) // prefilled: written, now
		} else {
			rest = append(rest, o)
		}
	}
	rc.ph.signalLocked()
	rc.ph.mu.Unlock()
	base.hold()
	rc.wg.Go(func() {
		defer base.Close()
		rc.seedRest(ctx, base, seeded, rest, have)
	})
	return Offer{Have: have.Ranges()}, nil
}

// seedWriteback is how many bytes seedRest copies between two starts of
// their write-back (as prefillStep).
const seedWriteback = 8 << 20

// seedRest copies rest from base into the .part (copyVerified), adding
// each to what rc has written as it lands. Then, the base found
// unchanged, it checkpoints the seeded chunks (fsync, then the record)
// while it reads every one of them back from the .part and checks its
// BLAKE3 (verifySeeded), and only then closes the offered ranges (have),
// so the file cannot complete before its copied bytes are checked. A
// failure fails rc; a receiver that ended stops it. It runs in rc.wg.
func (rc *Receiver) seedRest(ctx context.Context, base *Base, seeded, rest []wire.CopyOp, have RangeSet) {
	p := rc.cfg.Path
	var buf lazyChunk
	defer buf.release()
	var lo, hi uint64 // copied since the last start of write-back
	for i, o := range rest {
		if err := rc.seedStep(ctx); err != nil {
			rc.Fail(err)
			return
		}
		if err := copyVerified(rc.f, base.f, o, buf.get(), p); err != nil {
			rc.Fail(WithPath(AsError(err, p), p))
			return
		}
		if hi == 0 {
			lo = o.Offset
		}
		lo, hi = min(lo, o.Offset), max(hi, o.Offset+o.Length)
		if hi-lo >= seedWriteback || i == len(rest)-1 {
			startWriteback(rc.f, lo, hi-lo)
			hi = 0
		}
		rc.ph.mu.Lock()
		rc.have.Add(o.Offset, o.Length)
		rc.ph.mu.Unlock()
	}
	if !base.unchanged() {
		rc.Fail(Errorf(wire.BadDelta, p, "the old version changed while the delta was made"))
		return
	}
	var ckpt sync.WaitGroup
	ckpt.Go(rc.checkpoint)
	err := rc.verifySeeded(ctx, seeded)
	ckpt.Wait()
	if err != nil {
		rc.Fail(err)
		return
	}
	rc.ph.mu.Lock()
	for _, r := range have.r {
		rc.whole.Add(r.Offset, r.Length)
	}
	rc.ph.signalLocked() // maybe the file is complete
	rc.ph.mu.Unlock()
}

// seedStep is nil while the seeding may go on: an error once the
// receiver has ended or failed (nothing to report: the error is the
// receiver's), or ctx ended.
func (rc *Receiver) seedStep(ctx context.Context) *Error {
	rc.ph.mu.Lock()
	ended := rc.ended || rc.err != nil
	rc.ph.mu.Unlock()
	switch {
	case ended:
		return &Error{Code: wire.Cancelled, Path: rc.cfg.Path}
	case ctx.Err() != nil:
		return WithPath(CauseError(ctx), rc.cfg.Path)
	}
	return nil
}

// verifySeeded reads every chunk of ops back from the .part and checks
// its BLAKE3-256 against the sum the plan copied it with (that of the
// signature): whatever wrote the .part, prefill or copy, its bytes are
// checked as they stand, as the file hash of a plain transfer checks the
// whole .part. Two goroutines share the chunks (the sender is idle but
// for the few bytes it still sends), so 1 GiB takes about 0.25 s on two
// cores, beside the checkpoint's fsync. A mismatch is
// wire.HashMismatch.
func (rc *Receiver) verifySeeded(ctx context.Context, ops []wire.CopyOp) *Error {
	half := len(ops) / 2
	var other *Error
	var wg sync.WaitGroup
	wg.Go(func() { other = rc.verifyChunks(ctx, ops[half:]) })
	err := rc.verifyChunks(ctx, ops[:half])
	wg.Wait()
	if err == nil {
		err = other
	}
	return err
}

// verifyChunks is verifySeeded for ops, in one goroutine.
func (rc *Receiver) verifyChunks(ctx context.Context, ops []wire.CopyOp) *Error {
	p := rc.cfg.Path
	var buf lazyChunk
	defer buf.release()
	for _, o := range ops {
		if err := rc.seedStep(ctx); err != nil {
			return err
		}
		b := buf.get()[:o.Length]
		if _, err := rc.f.ReadAt(b, int64(o.Offset)); err != nil {
			return WithPath(AsError(err, p), p)
		}
		if blake3.Sum256(b) != o.Sum {
			return Errorf(wire.HashMismatch, p, "the chunk copied to %d of the .part no longer has the BLAKE3 it was copied with", o.Offset)
		}
	}
	return nil
}

// Discard finishes a receiver that will not be used: its .part and
// record are removed.
func (rc *Receiver) Discard() {
	rc.f.Close()
	rc.removePartial()
}

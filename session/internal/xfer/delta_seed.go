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
// the copied ranges (coalesced; at most wire.MaxRanges, the shortest left
// out beyond that: they are sent) and the SHA-256 of the first when it
// starts at offset 0.
//
// Every operation must copy exactly a chunk of the signature (its start,
// length and BLAKE3-256), so the old bytes need not be read and hashed
// again: runs of operations that are contiguous in both versions are
// copied by copyRange (copy_file_range(2) on Linux, the bytes never
// leave the kernel), except the run from offset 0, which is read and
// hashed for the offer's prefix hash. An old version whose size or mtime
// changed meanwhile fails the seed; one changed without either is caught
// by the whole-file SHA-256 before the rename, as any wrong byte is.
//
// The seeded bytes are made durable and recorded in the background, as
// a checkpoint does (fsync, then the record), while the sender sends the
// rest: a transfer cut off after that resumes with them.
//
// An operation that names no chunk of the signature is wire.BadDelta; on
// any error the receiver is finished (its .part removed, the destination
// untouched) and the error is an *Error.
func (rc *Receiver) Seed(ctx context.Context, base *Base, plan *PlanOps) (Offer, error) {
	p := rc.cfg.Path
	fail := func(err error) (Offer, error) {
		rc.Discard()
		return Offer{}, WithPath(AsError(err, p), p)
	}
	type run struct{ dst, src, n uint64 }
	var runs []run
	for _, o := range plan.ops {
		if !base.named(o) {
			return fail(Errorf(wire.BadDelta, p, "delta operation copies [%d, +%d) of the old version, which is not a chunk of its signature with the plan's BLAKE3", o.Source, o.Length))
		}
		if k := len(runs) - 1; k >= 0 && runs[k].dst+runs[k].n == o.Offset && runs[k].src+runs[k].n == o.Source {
			runs[k].n += o.Length
			continue
		}
		runs = append(runs, run{o.Offset, o.Source, o.Length})
	}
	var buf lazyChunk // taken for the run from 0, or a fallback copy
	defer buf.release()
	prefix := sha256.New()
	var hashed uint64 // the contiguous prefix copied (and hashed) from 0
	var have RangeSet
	for _, r := range runs {
		if ctx.Err() != nil {
			return fail(CtxError(ctx))
		}
		if r.dst == 0 {
			if err := copyHashed(rc.f, base.f, r.src, r.n, prefix, buf.get()); err != nil {
				return fail(err)
			}
			hashed = r.n
		} else if err := copyRange(rc.f, base.f, int64(r.dst), int64(r.src), int64(r.n), buf.get()); err != nil {
			return fail(err)
		}
		have.Add(r.dst, r.n)
	}
	if !base.unchanged() {
		return fail(Errorf(wire.BadDelta, p, "the old version changed while the delta was made"))
	}
	if len(have.r) > wire.MaxRanges {
		// A record, and an offer, hold at most MaxRanges ranges: the
		// shortest are left out, and sent like the rest.
		short := slices.SortedFunc(slices.Values(have.r), func(a, b wire.Range) int { return cmp.Compare(a.Length, b.Length) })
		for _, r := range short[:len(have.r)-wire.MaxRanges] {
			have.Remove(r.Offset, r.Length)
		}
	}
	if have.Prefix() < hashed {
		hashed = 0 // the first range was left out
	}
	if len(have.r) == 0 {
		return Offer{}, nil
	}
	var sum []byte
	if hashed > 0 {
		sum = prefix.Sum(nil)
	}
	rc.ph.mu.Lock()
	rc.have, rc.whole = have.Clone(), have.Clone()
	if hashed > 0 {
		rc.ph.h, rc.ph.n = prefix, hashed
	}
	rc.ph.mu.Unlock()
	rc.wg.Go(rc.checkpoint)
	return Offer{Have: have.Ranges(), PrefixHash: sum}, nil
}

// copyHashed copies the n bytes of src at srcOff to the start of dst
// through buf, hashing them into h.
func copyHashed(dst, src *os.File, srcOff, n uint64, h hash.Hash, buf []byte) error {
	for off := uint64(0); off < n; {
		b := buf[:min(uint64(len(buf)), n-off)]
		if _, err := src.ReadAt(b, int64(srcOff+off)); err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		h.Write(b)
		if _, err := dst.WriteAt(b, int64(off)); err != nil {
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

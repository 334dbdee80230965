package xfer

import (
	"cmp"
	"context"
	"crypto/sha256"
	"io"
	"os"
	"slices"

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

// Seed copies the chunks of plan from old, the receiver's previous
// version of oldSize bytes, into the .part of a receiver that holds
// nothing yet (OpenReceiver starting over), checking each chunk's
// BLAKE3 against the plan before it is written. It then makes them
// durable and records them, as a checkpoint does (fsync, then the
// record), so that a transfer cut off from here resumes with them, and
// returns the offer: the copied ranges (coalesced; at most
// wire.MaxRanges, the shortest left out beyond that: they are sent) and
// the SHA-256 of the first when it starts at offset 0.
//
// A chunk whose source lies outside the old version, or whose bytes do
// not have the plan's sum, is wire.BadDelta; on any error the receiver is
// finished (its .part removed, the destination untouched) and the error
// is an *Error.
func (rc *Receiver) Seed(ctx context.Context, old io.ReaderAt, oldSize uint64, plan *PlanOps) (Offer, error) {
	p, meta := rc.cfg.Path, rc.cfg.Meta
	fail := func(err error) (Offer, error) {
		rc.Discard()
		return Offer{}, WithPath(AsError(err, p), p)
	}
	buf := make([]byte, ChunkMax)
	prefix := sha256.New()
	var hashed uint64 // the contiguous prefix copied (and hashed) from 0
	var have RangeSet
	for i, o := range plan.ops {
		if i%64 == 0 && ctx.Err() != nil {
			return fail(CtxError(ctx))
		}
		if o.Source > oldSize || o.Length > oldSize-o.Source {
			return fail(Errorf(wire.BadDelta, p, "delta operation copies [%d, +%d) from an old version of %d bytes", o.Source, o.Length, oldSize))
		}
		b := buf[:o.Length]
		if _, err := old.ReadAt(b, int64(o.Source)); err != nil {
			return fail(err)
		}
		if blake3.Sum256(b) != o.Sum {
			return fail(Errorf(wire.BadDelta, p, "the old version's bytes [%d, +%d) do not have the plan's BLAKE3", o.Source, o.Length))
		}
		if _, err := rc.f.WriteAt(b, int64(o.Offset)); err != nil {
			return fail(err)
		}
		if o.Offset == hashed {
			prefix.Write(b)
			hashed += o.Length
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
	if have.Prefix() < hashed {
		hashed = 0 // the first range was left out
		prefix.Reset()
	}
	if len(have.r) == 0 {
		return Offer{}, nil
	}
	if err := rc.f.Sync(); err != nil {
		return fail(err)
	}
	var sum []byte
	if hashed > 0 {
		sum = prefix.Sum(nil)
	}
	ranges := have.Ranges()
	rc.recorded = true
	if err := SaveRecord(rc.cfg.Root, p, newRecord(meta, ranges, hashed, sum)); err != nil {
		return fail(err)
	}
	rc.ph.mu.Lock()
	rc.have, rc.whole, rc.durable = have.Clone(), have.Clone(), have.Clone()
	if hashed > 0 {
		rc.ph.h, rc.ph.n = prefix, hashed
	}
	rc.ph.mu.Unlock()
	return Offer{Have: ranges, PrefixHash: sum}, nil
}

// Discard finishes a receiver that will not be used: its .part and
// record are removed.
func (rc *Receiver) Discard() {
	rc.f.Close()
	rc.removePartial()
}

// OpenDeltaBase opens p under root, the version a receiver holds, for a
// delta transfer: it returns the open file when p is a regular file of
// at least DeltaMinSize bytes, nil otherwise (missing, small, not a
// regular file: the transfer is then plain). The caller closes it.
func OpenDeltaBase(root *os.Root, p string) *os.File {
	f, err := root.Open(p)
	if err != nil {
		return nil
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() < DeltaMinSize {
		f.Close()
		return nil
	}
	return f
}

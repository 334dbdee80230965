package xfer

import (
	"bufio"
	"context"
	"io"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// Signature chunks the receiver's old version r and hands the chunks to
// emit in batches of at most wire.MaxSigChunks, the last batch (possibly
// empty) with last set: the DeltaSig frames. It holds one batch, not the
// signature, so a file of any size costs the same memory.
func Signature(ctx context.Context, r io.Reader, emit func(chunks []wire.SigChunk, last bool) error) error {
	return signature(ctx, r, emit, nil)
}

// signature is Signature handing each chunk's bytes to sink (chunksTo).
func signature(ctx context.Context, r io.Reader, emit func(chunks []wire.SigChunk, last bool) error, sink func(off uint64, b []byte)) error {
	batch := make([]wire.SigChunk, 0, wire.MaxSigChunks)
	err := chunksTo(ctx, r, func(c Chunk) error {
		batch = append(batch, wire.SigChunk{Length: c.Length, Sum: c.Sum})
		if len(batch) < wire.MaxSigChunks {
			return nil
		}
		err := emit(batch, false)
		batch = batch[:0]
		return err
	}, sink)
	if err != nil {
		return err
	}
	return emit(batch, true)
}

// MaxIndexChunks is the most signature chunks a sender indexes (2^19:
// 32 GiB of old version at the average chunk size; an entry takes about
// 88 bytes of map, so at most about 45 MiB, and 14 MiB for a 10 GiB file,
// as TestDeltaMemory10GiB measures); chunks beyond it are ignored, so a peer
// cannot make the index grow without bound.
const MaxIndexChunks = 1 << 19

// indexEntry is where a chunk lies in the old version.
type indexEntry struct {
	off uint64
	n   uint32
}

// Index holds the receiver's signature on the sender's side: the old
// version's chunks by sum. Its zero value is empty; it is not safe for
// concurrent use.
type Index struct {
	m    map[wire.ChunkSum]indexEntry
	size uint64 // bytes of old version described so far
	n    int    // chunks seen
}

// Add appends the next chunks of a DeltaSig. A chunk of length 0 or
// over ChunkMax is wire.BadDelta (an *Error naming path p).
func (ix *Index) Add(chunks []wire.SigChunk, p string) error {
	if ix.m == nil {
		ix.m = make(map[wire.ChunkSum]indexEntry)
	}
	for _, c := range chunks {
		if c.Length == 0 || c.Length > ChunkMax {
			return Errorf(wire.BadDelta, p, "signature chunk of %d bytes (1 to %d allowed)", c.Length, ChunkMax)
		}
		if ix.n < MaxIndexChunks {
			if _, dup := ix.m[c.Sum]; !dup {
				ix.m[c.Sum] = indexEntry{off: ix.size, n: uint32(c.Length)}
			}
		}
		ix.n++
		ix.size += c.Length
	}
	return nil
}

// Len returns the number of chunks indexed.
func (ix *Index) Len() int { return len(ix.m) }

// Plan chunks the sender's new version r and hands emit the copy
// operations for every chunk the index holds (same sum and length), in
// increasing offset, in batches of at most wire.MaxPlanOps, the last
// (possibly empty) with last set: the DeltaPlan frames. It returns the
// bytes the plan copies.
func Plan(ctx context.Context, r io.Reader, ix *Index, emit func(ops []wire.CopyOp, last bool) error) (copied uint64, err error) {
	chunks, err := ChunkList(ctx, r)
	if err != nil {
		return 0, err
	}
	return PlanFrom(chunks, ix, emit)
}

// ChunkList cuts r into chunks (see Chunks) and returns them all: 48
// bytes a chunk, about 8 MiB for a 10 GiB file. A sender makes it while
// the receiver's signature is still on its way, so that the two sides
// chunk their versions at the same time.
func ChunkList(ctx context.Context, r io.Reader) ([]Chunk, error) {
	var cs []Chunk
	err := Chunks(ctx, r, func(c Chunk) error { cs = append(cs, c); return nil })
	return cs, err
}

// PlanFrom is Plan for chunks already cut (ChunkList).
func PlanFrom(chunks []Chunk, ix *Index, emit func(ops []wire.CopyOp, last bool) error) (copied uint64, err error) {
	return planChunks(chunks, func(i int) (uint64, bool) { return ix.find(chunks[i]) }, emit)
}

// find returns where c's bytes are in the old version, when the index
// holds a chunk of c's sum and length.
func (ix *Index) find(c Chunk) (source uint64, ok bool) {
	e, ok := ix.m[c.Sum]
	return e.off, ok && uint64(e.n) == c.Length
}

// planChunks hands emit a copy operation for each of chunks (in file
// order) that source finds in the old version, as Plan does.
func planChunks(chunks []Chunk, source func(i int) (uint64, bool), emit func(ops []wire.CopyOp, last bool) error) (copied uint64, err error) {
	batch := make([]wire.CopyOp, 0, wire.MaxPlanOps)
	for i, c := range chunks {
		src, ok := source(i)
		if !ok {
			continue
		}
		batch = append(batch, wire.CopyOp{Offset: c.Offset, Source: src, Length: c.Length, Sum: c.Sum})
		copied += c.Length
		if len(batch) == wire.MaxPlanOps {
			if err := emit(batch, false); err != nil {
				return copied, err
			}
			batch = batch[:0]
		}
	}
	return copied, emit(batch, true)
}

// Chunker cuts a file in a goroutine of its own (ChunkList): Start it,
// then Wait for the chunks; Wait must be called once Start was.
type Chunker struct {
	done   chan struct{}
	cancel context.CancelFunc
	chunks []Chunk
	err    error
}

// StartChunker starts cutting the size bytes of f.
func StartChunker(ctx context.Context, f io.ReaderAt, size uint64) *Chunker {
	ctx, cancel := context.WithCancel(ctx)
	ck := &Chunker{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(ck.done)
		r := io.NewSectionReader(f, 0, int64(size))
		ck.chunks, ck.err = ChunkList(ctx, bufio.NewReaderSize(r, 1<<20))
	}()
	return ck
}

// Wait waits for the chunks; stop abandons them (the goroutine stops at
// its next chunk).
func (ck *Chunker) Wait(stop bool) ([]Chunk, error) {
	if stop {
		ck.cancel()
	}
	<-ck.done
	ck.cancel()
	return ck.chunks, ck.err
}

package xfer

import (
	"bufio"
	"context"
	"io"

	"github.com/zeebo/blake3"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// inPlaceGiveUp is how many signature chunks in a row a Matcher finds
// missing at their own offset before it stops looking there: the
// versions have shifted (bytes inserted or removed), and the rest of the
// file is cut with CDC instead, at once.
const inPlaceGiveUp = 32

// Matcher plans a delta on the sender's side from the receiver's
// signature as its frames arrive (PROTOCOL.md, "Delta", "Plan"). Each
// signature chunk is first looked for at its own offset in the sender's
// file: when the bytes there have its length and BLAKE3-256 (an edit in
// place, an append), it is copied in place, and that part of the file is
// never cut. The parts no chunk matched in place are cut with CDC
// (ChunkList) and their chunks looked up by sum (Index), as Plan does, so
// a chunk that moved is still found; after inPlaceGiveUp misses in a row
// the rest of the file is cut in a goroutine while the signature still
// comes. On 1 GiB of scattered edits the sender then hashes its file
// (0.4 s a GiB) instead of cutting and hashing it (1.1 s), which leaves a
// core to the receiver's signing. Stop must be called once the Matcher
// is no longer needed; it is not safe for concurrent use.
type Matcher struct {
	f       io.ReaderAt
	size    uint64 // of the sender's file
	ix      Index
	sig     uint64  // bytes of old version the signature has described
	inPlace []Chunk // matched at their own offset, in file order
	misses  int     // in a row
	buf     []byte
	// tail cuts [tailFrom, size) once in-place matching stopped.
	tail     *Chunker
	tailFrom uint64
}

// NewMatcher returns a Matcher for f, the sender's size-byte file.
func NewMatcher(f io.ReaderAt, size uint64) *Matcher {
	return &Matcher{f: f, size: size, buf: make([]byte, ChunkMax)}
}

// Add takes the next chunks of the signature (a DeltaSig): they are
// indexed (a misfit is wire.BadDelta) and looked for at their own
// offsets. An error reading the file is returned as it is.
func (m *Matcher) Add(ctx context.Context, chunks []wire.SigChunk, p string) error {
	first := m.ix.n
	if err := m.ix.Add(chunks, p); err != nil {
		return err
	}
	for k, c := range chunks {
		off := m.sig
		m.sig += c.Length
		// A chunk past MaxIndexChunks is not kept by the receiver
		// (Base.keep): no operation may name it.
		if m.tail != nil || first+k >= MaxIndexChunks || off+c.Length > m.size {
			continue
		}
		b := m.buf[:c.Length]
		if n, err := m.f.ReadAt(b, int64(off)); n < len(b) {
			if err == nil || err == io.EOF {
				return Errorf(wire.SourceChanged, p, "file shrank while being planned")
			}
			return err
		}
		if blake3.Sum256(b) == c.Sum {
			m.inPlace = append(m.inPlace, Chunk{Offset: off, Length: c.Length, Sum: c.Sum})
			m.misses = 0
			continue
		}
		if m.misses++; m.misses == inPlaceGiveUp {
			m.tailFrom = m.matchedEnd()
			m.tail = StartChunker(ctx, io.NewSectionReader(m.f, int64(m.tailFrom), int64(m.size-m.tailFrom)), m.size-m.tailFrom)
		}
	}
	return nil
}

// matchedEnd is where the last in-place chunk ends (0 without one).
func (m *Matcher) matchedEnd() uint64 {
	if n := len(m.inPlace); n > 0 {
		return m.inPlace[n-1].Offset + m.inPlace[n-1].Length
	}
	return 0
}

// Plan cuts what the signature did not match in place and hands emit
// the copy operations as Plan does, once the signature's last frame has
// been added. It returns the sender's file as chunks, in file order and
// tiling it (the in-place ones and those cut), for the Seal's check
// (SenderConfig.Chunks), and the bytes the plan copies.
func (m *Matcher) Plan(ctx context.Context, emit func(ops []wire.CopyOp, last bool) error) (chunks []Chunk, copied uint64, err error) {
	var all []Chunk
	var inPlace []bool // of all
	cut := func(from, to uint64, cs []Chunk) error {
		if cs == nil && from < to {
			var err error
			cs, err = ChunkList(ctx, bufio.NewReaderSize(io.NewSectionReader(m.f, int64(from), int64(to-from)), 1<<20))
			if err != nil {
				return err
			}
		}
		for _, c := range cs {
			c.Offset += from
			all, inPlace = append(all, c), append(inPlace, false)
		}
		return nil
	}
	pos := uint64(0)
	for _, c := range m.inPlace {
		if err := cut(pos, c.Offset, nil); err != nil {
			return nil, 0, err
		}
		all, inPlace = append(all, c), append(inPlace, true)
		pos = c.Offset + c.Length
	}
	if m.tail != nil {
		tail, err := m.tail.Wait(false)
		m.tail = nil
		if err != nil {
			return nil, 0, err
		}
		// No chunk matched in place once the tail was started.
		if err := cut(pos, m.size, tail); err != nil {
			return nil, 0, err
		}
	} else if err := cut(pos, m.size, nil); err != nil {
		return nil, 0, err
	}
	copied, err = planChunks(all, func(i int) (uint64, bool) {
		if inPlace[i] {
			return all[i].Offset, true
		}
		return m.ix.find(all[i])
	}, emit)
	return all, copied, err
}

// Stop abandons the cutting of the tail, if any.
func (m *Matcher) Stop() {
	if m.tail != nil {
		m.tail.Wait(true)
		m.tail = nil
	}
}

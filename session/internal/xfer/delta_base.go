package xfer

import (
	"context"
	"io"
	"os"
	"sort"
	"sync/atomic"
	"time"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// Base is the version of a file a receiver holds, described for a delta
// transfer (PROTOCOL.md, "Delta"): the open file, and, once Signature
// has run, the chunks it sent, by which Seed checks a plan without
// reading the old bytes again. It is not safe for concurrent use.
type Base struct {
	refs  atomic.Int32 // Close closes f when it drops to 0 (see hold)
	f     *os.File
	size  uint64
	mtime time.Time
	// ends[i] and sums[i] are the end offset (bytes) and BLAKE3-256 of
	// the signature's chunk i, in file order; at most MaxIndexChunks of
	// them (a sender indexes no more, so no plan names a later one):
	// 40 bytes a chunk, 6.4 MB for a 10 GiB file (TestBaseMemory).
	ends []uint64
	sums []wire.ChunkSum
}

// OpenDeltaBase opens p under root, the version a receiver holds, for a
// delta transfer: it returns it when p is a regular file of at least
// DeltaMinSize bytes, nil otherwise (missing, small, not a regular file:
// the transfer is then plain). The caller closes it.
func OpenDeltaBase(root *os.Root, p string) *Base {
	f, err := root.Open(p)
	if err != nil {
		return nil
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() < DeltaMinSize {
		f.Close()
		return nil
	}
	b := &Base{f: f, size: uint64(fi.Size()), mtime: fi.ModTime()}
	b.refs.Store(1)
	return b
}

// Close closes the file, once every holder has closed it: the opener,
// and a Seed still copying from it.
func (b *Base) Close() error {
	if b.refs.Add(-1) > 0 {
		return nil
	}
	return b.f.Close()
}

// hold keeps the file open for one more Close.
func (b *Base) hold() { b.refs.Add(1) }

// Size returns the old version's size in bytes, as it was opened.
func (b *Base) Size() uint64 { return b.size }

// Signature chunks the old version and hands the chunks to emit as
// Signature does (the DeltaSig frames), keeping their ends and sums for
// Seed. It reads the file once, front to back.
func (b *Base) Signature(ctx context.Context, emit func(chunks []wire.SigChunk, last bool) error) error {
	return b.sign(ctx, emit, nil)
}

// sign is Signature handing each chunk's bytes to sink (when not nil:
// the prefill of SignPrefilled).
func (b *Base) sign(ctx context.Context, emit func(chunks []wire.SigChunk, last bool) error, sink func(off uint64, b []byte)) error {
	b.ends, b.sums = b.ends[:0], b.sums[:0]
	r := io.NewSectionReader(b.f, 0, int64(b.size))
	return signature(ctx, r, func(chunks []wire.SigChunk, last bool) error {
		b.keep(chunks)
		return emit(chunks, last)
	}, sink)
}

// keep appends the next chunks of the signature to those Seed checks
// plans against, up to MaxIndexChunks.
func (b *Base) keep(chunks []wire.SigChunk) {
	var end uint64
	if n := len(b.ends); n > 0 {
		end = b.ends[n-1]
	}
	for _, c := range chunks {
		if len(b.ends) == MaxIndexChunks {
			return
		}
		end += c.Length
		b.ends = append(b.ends, end)
		b.sums = append(b.sums, c.Sum)
	}
}

// named reports whether o copies exactly a chunk of the signature: one
// that starts at o.Source, with o's length and sum.
func (b *Base) named(o wire.CopyOp) bool {
	// The chunk starting at Source is the first whose end is past it.
	i := sort.Search(len(b.ends), func(i int) bool { return b.ends[i] > o.Source })
	if i == len(b.ends) {
		return false
	}
	start := uint64(0)
	if i > 0 {
		start = b.ends[i-1]
	}
	return start == o.Source && b.ends[i]-start == o.Length && b.sums[i] == o.Sum
}

// unchanged reports whether the old version still has the size and
// mtime it was opened with, so the signature still describes it.
func (b *Base) unchanged() bool {
	fi, err := b.f.Stat()
	return err == nil && uint64(fi.Size()) == b.size && fi.ModTime().Equal(b.mtime)
}

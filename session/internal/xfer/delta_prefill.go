package xfer

import (
	"context"
	"io"
	"os"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// Prefill (PROTOCOL.md, "Delta", seeding): the receiver of a push reads
// its old version once, to sign it; as it reads, it writes the same bytes
// at the same offsets of its .part and starts their write-back to the
// disk. A chunk the plan copies to the offset it had in the old version
// (an edit in place, an append) is then in the .part before the plan
// comes: Seed neither copies it nor waits long for it to reach the disk,
// as that write went on while both peers chunked their versions. The
// bytes written are the very bytes the signature's BLAKE3 sums were
// computed on, so a plan checked against the signature names them.

// prefillStep is how many bytes are prefilled between two starts of
// their write-back (startWriteback): large enough for few system calls,
// small enough that the disk starts early.
const prefillStep = 8 << 20

// SignPrefilled is Base.Signature for rc, the receiver of a push that
// holds nothing yet (OpenReceiver starting over) and will Seed from
// base: as base is read it is also written into rc's .part at the same
// offsets, up to the old version's size, when the new version is at
// least as long as the old. A version that shrank has most likely lost
// bytes in front of its chunks, which then move: their prefilled bytes
// would only be written again. A failed write stops the prefill, not
// the signature: Seed copies what was not prefilled.
func (rc *Receiver) SignPrefilled(ctx context.Context, base *Base, emit func(chunks []wire.SigChunk, last bool) error) error {
	r := io.NewSectionReader(base.f, 0, int64(base.size))
	if rc.cfg.Meta.Size < base.size {
		return base.sign(ctx, r, emit)
	}
	pf := &prefill{src: r, dst: rc.f, limit: base.size}
	err := base.sign(ctx, pf, emit)
	startWriteback(rc.f, pf.kicked, pf.filled-pf.kicked)
	rc.prefilled = pf.filled
	return err
}

// prefill is a reader of the old version that writes what it reads into
// the .part at the same offsets (see SignPrefilled).
type prefill struct {
	src    io.Reader
	dst    *os.File
	limit  uint64 // bytes to prefill
	off    uint64 // bytes read from src
	filled uint64 // bytes written from offset 0 on, in order
	kicked uint64 // bytes whose write-back was started
	failed bool   // a write failed: prefill no more
}

func (p *prefill) Read(b []byte) (int, error) {
	n, err := p.src.Read(b)
	if n > 0 && !p.failed && p.off < p.limit {
		w := b[:min(uint64(n), p.limit-p.off)]
		if _, werr := p.dst.WriteAt(w, int64(p.off)); werr != nil {
			p.failed = true
		} else {
			p.filled += uint64(len(w))
			if p.filled-p.kicked >= prefillStep {
				startWriteback(p.dst, p.kicked, p.filled-p.kicked)
				p.kicked = p.filled
			}
		}
	}
	p.off += uint64(n)
	return n, err
}

// inPlace reports whether o copies bytes to the offset they had in the
// old version and SignPrefilled wrote them there.
func (rc *Receiver) inPlace(o wire.CopyOp) bool {
	return o.Source == o.Offset && o.Offset+o.Length <= rc.prefilled
}

// hashRange hashes the n bytes of f at off into h, reading through buf;
// fewer than n bytes there is io.ErrUnexpectedEOF.
func hashRange(f io.ReaderAt, off, n uint64, h io.Writer, buf []byte) error {
	got, err := io.CopyBuffer(h, io.NewSectionReader(f, int64(off), int64(n)), buf)
	if err == nil && uint64(got) < n {
		err = io.ErrUnexpectedEOF
	}
	return err
}

package xfer

import (
	"context"
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
// base: each chunk of base, once summed, is also written into rc's .part
// at its offset, up to the old version's size, when the new version is
// at least as long as the old. The writes run in the goroutine that sums
// the chunks, beside the one that reads and cuts them, so the prefill
// costs the signature little time on two cores. A version that shrank
// has most likely lost bytes in front of its chunks, which then move:
// their prefilled bytes would only be written again. A failed write
// stops the prefill, not the signature: Seed copies what was not
// prefilled.
func (rc *Receiver) SignPrefilled(ctx context.Context, base *Base, emit func(chunks []wire.SigChunk, last bool) error) error {
	if rc.cfg.Meta.Size < base.size {
		return base.sign(ctx, emit, nil)
	}
	pf := &prefill{dst: rc.f, limit: base.size}
	err := base.sign(ctx, emit, pf.write)
	startWriteback(rc.f, pf.kicked, pf.filled-pf.kicked)
	rc.prefilled = pf.filled
	return err
}

// prefill writes the chunks of the old version into the .part at their
// offsets, in file order (see SignPrefilled).
type prefill struct {
	dst    *os.File
	limit  uint64 // bytes to prefill
	filled uint64 // bytes written from offset 0 on, in order
	kicked uint64 // bytes whose write-back was started
	failed bool   // a write failed: prefill no more
}

// write prefills b, the chunk of the old version at off.
func (p *prefill) write(off uint64, b []byte) {
	if p.failed || off != p.filled || off >= p.limit {
		return
	}
	w := b[:min(uint64(len(b)), p.limit-off)]
	if _, err := p.dst.WriteAt(w, int64(off)); err != nil {
		p.failed = true
		return
	}
	p.filled += uint64(len(w))
	if p.filled-p.kicked >= prefillStep {
		startWriteback(p.dst, p.kicked, p.filled-p.kicked)
		p.kicked = p.filled
	}
}

// inPlace reports whether o copies bytes to the offset they had in the
// old version and SignPrefilled wrote them there.
func (rc *Receiver) inPlace(o wire.CopyOp) bool {
	return o.Source == o.Offset && o.Offset+o.Length <= rc.prefilled
}

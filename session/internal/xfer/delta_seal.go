package xfer

import (
	"io"
	"os"

	"github.com/zeebo/blake3"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// A delta is verified by its chunks (PROTOCOL.md, "Delta",
// "Verification"), not by a whole-file SHA-256 that would read and hash
// every byte of the new version on both sides: 0.75 s a GiB with this
// machine's SHA extensions, on the critical path at the receiver's end.
// Every copied chunk is checked against the BLAKE3-256 of the signature
// (prefilled chunks hold the very bytes that were hashed to sign them;
// the others are hashed as they are copied), and the Seal of a delta
// carries the BLAKE3-256 of the literal bytes, those outside the offer's
// ranges, in offset order: the bytes the range streams carried.

// literalSum returns the BLAKE3-256 of the bytes of f outside held, in
// increasing offset, reading size bytes at most through buf: the hash a
// delta's Seal carries. A short read is io.ErrUnexpectedEOF.
func literalSum(f io.ReaderAt, held RangeSet, size uint64, buf []byte) ([]byte, error) {
	h := blake3.New()
	for _, r := range held.Missing(size) {
		for off := r.Offset; off < r.Offset+r.Length; {
			b := buf[:min(uint64(len(buf)), r.Offset+r.Length-off)]
			if n, err := f.ReadAt(b, int64(off)); n < len(b) {
				if err == nil || err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return nil, err
			}
			h.Write(b)
			off += uint64(len(b))
		}
	}
	return h.Sum(nil), nil
}

// copyVerified copies the chunk o names from src (the old version) into
// dst at o.Offset through buf (at least ChunkMax bytes), after checking
// that its bytes still have the signature's BLAKE3-256: an old version
// changed since it was signed, its size and mtime kept, is
// wire.BadDelta rather than a wrong byte in the new version.
func copyVerified(dst, src *os.File, o wire.CopyOp, buf []byte, p string) error {
	b := buf[:o.Length]
	if n, err := src.ReadAt(b, int64(o.Source)); n < len(b) {
		if err == nil || err == io.EOF {
			return Errorf(wire.BadDelta, p, "the old version shrank while the delta was made")
		}
		return err
	}
	if blake3.Sum256(b) != o.Sum {
		return Errorf(wire.BadDelta, p, "the old version changed while the delta was made (a chunk at %d no longer has its signature's BLAKE3)", o.Source)
	}
	_, err := dst.WriteAt(b, int64(o.Offset))
	return err
}

package xfer

import (
	"errors"
	"io"
	"os"

	"github.com/zeebo/blake3"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// A delta is verified by its chunks (PROTOCOL.md, "Delta",
// "Verification"), not by a whole-file hash that would read and hash
// every byte of the new version on both sides: 0.75 s a GiB with this
// machine's SHA extensions, on the critical path at the receiver's end.
// Every copied chunk is checked against the BLAKE3-256 of the signature
// (prefilled chunks hold the very bytes that were hashed to sign them;
// the others are hashed as they are copied), and the Seal of a delta
// carries the file hash (NewFileHash) of the literal bytes, those outside
// the offer's ranges, in offset order: the bytes the range streams
// carried.

// literalSum returns the file hash of the bytes of f outside held, in
// increasing offset, reading size bytes at most through buf (at least
// ChunkMax bytes): the hash a delta's Seal carries. chunks (optional, in
// file order) are the file's chunks as its sender cut them to plan the
// delta: a chunk wholly outside held is read whole and must still have
// its BLAKE3-256 (errChunkChanged otherwise), so a sender whose file
// changed between its chunking pass and its sending, its mtime kept,
// fails rather than sealing a mix of two versions. A short read is
// io.ErrUnexpectedEOF.
func literalSum(f io.ReaderAt, held RangeSet, size uint64, chunks []Chunk, buf []byte) ([]byte, error) {
	h := NewFileHash()
	i := 0 // the first chunk that may hold off
	for _, r := range held.Missing(size) {
		for off := r.Offset; off < r.End(); {
			for i < len(chunks) && chunks[i].Offset+chunks[i].Length <= off {
				i++
			}
			n := min(uint64(len(buf)), r.End()-off)
			whole := false
			if i < len(chunks) {
				switch c := chunks[i]; {
				case c.Offset == off && c.Length <= r.End()-off && c.Length <= uint64(len(buf)):
					n, whole = c.Length, true
				case c.Offset <= off: // off inside c, or c reaches past r
					n = min(n, c.Offset+c.Length-off)
				default: // up to c, to read it whole
					n = min(n, c.Offset-off)
				}
			}
			b := buf[:n]
			if k, err := f.ReadAt(b, int64(off)); k < len(b) {
				if err == nil || err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return nil, err
			}
			if whole && blake3.Sum256(b) != chunks[i].Sum {
				return nil, errChunkChanged
			}
			h.Write(b)
			off += n
		}
	}
	return h.Sum(nil), nil
}

// errChunkChanged says a chunk of a delta's sender no longer has the sum
// it had when the plan was made (literalSum).
var errChunkChanged = errors.New("a chunk of the file changed since the delta was planned")

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

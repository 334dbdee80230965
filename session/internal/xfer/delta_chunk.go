package xfer

import (
	"context"
	"errors"
	"io"

	"github.com/restic/chunker"
	"github.com/zeebo/blake3"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// Content-defined chunking for delta transfers (PROTOCOL.md, "Delta").
// Both peers must cut a file the same way, so every parameter here is
// part of the protocol.
//
// The chunker is restic's (github.com/restic/chunker): a Rabin
// fingerprint over a 64-byte window, well tested and kept by restic for a
// decade, rather than our own. The sum is BLAKE3-256
// (github.com/zeebo/blake3): several GB/s with SIMD, well above the
// chunker's own speed, and collision resistant, so a sum names a chunk.
const (
	// DeltaMinSize is the smallest old version, in bytes, that a
	// receiver describes for a delta: below it the round trip of the
	// signature costs more than sending the file.
	DeltaMinSize = 1 << 20
	// ChunkMin and ChunkMax bound a chunk's length in bytes (the last
	// chunk of a file may be shorter than ChunkMin).
	ChunkMin = 32 << 10
	ChunkMax = 256 << 10
	// chunkBits is the number of low fingerprint bits that must be zero
	// for a cut: chunks average ChunkMin + 2^chunkBits, about 64 KiB.
	chunkBits = 15
)

// chunkPol is the irreducible polynomial of the Rabin fingerprint, fixed
// so that both peers cut alike (restic picks one per repository).
const chunkPol = chunker.Pol(0x3DA3358B4DC173)

// Chunk is one content-defined chunk of a file.
type Chunk struct {
	Offset uint64 // bytes from the start of the file
	Length uint64
	Sum    wire.ChunkSum // BLAKE3-256 of the bytes
}

// Chunks cuts r into content-defined chunks, front to back, and calls fn
// for each with its offset, length and BLAKE3-256. It reads r once,
// holding ChunkMax bytes at a time. It stops at the first error of r or
// fn, or when ctx ends.
func Chunks(ctx context.Context, r io.Reader, fn func(c Chunk) error) error {
	ch := chunker.NewWithBoundaries(r, chunkPol, ChunkMin, ChunkMax)
	ch.SetAverageBits(chunkBits)
	buf := make([]byte, ChunkMax)
	var off uint64
	for {
		if err := ctx.Err(); err != nil {
			return CtxError(ctx)
		}
		c, err := ch.Next(buf)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		k := Chunk{Offset: off, Length: uint64(c.Length), Sum: blake3.Sum256(c.Data)}
		if err := fn(k); err != nil {
			return err
		}
		off += uint64(c.Length)
	}
}

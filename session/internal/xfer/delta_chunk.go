package xfer

import (
	"context"
	"errors"
	"io"
	"sync"

	chunkers "github.com/PlakarKorp/go-cdc-chunkers"
	_ "github.com/PlakarKorp/go-cdc-chunkers/chunkers/fastcdc" // registers fastcdc-v1.0.0
	"github.com/zeebo/blake3"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// Content-defined chunking for delta transfers (PROTOCOL.md, "Delta").
// Both peers must cut a file the same way, so every parameter here is
// part of the protocol.
//
// The chunker is FastCDC (Xia et al., USENIX ATC 2016: a Gear rolling
// hash, normalized chunking, cut-point skipping) as
// github.com/PlakarKorp/go-cdc-chunkers implements it, under its
// versioned name "fastcdc-v1.0.0", whose cuts that module keeps stable
// across releases. Kept by Plakar for its backups, it cuts random data
// at 2.2 times the speed of restic's Rabin chunker on this project's
// bench machine (256 MiB in 1.2 s against 2.7 s, loaded), and both
// peers chunk their whole version for every delta. The sum is BLAKE3-256
// (github.com/zeebo/blake3): several GB/s with SIMD, and collision
// resistant, so a sum names a chunk.
const (
	// DeltaMinSize is the smallest old version, in bytes, that a
	// receiver describes for a delta: below it the round trip of the
	// signature costs more than sending the file.
	DeltaMinSize = 1 << 20
	// ChunkMin and ChunkMax bound a chunk's length in bytes (the last
	// chunk of a file may be shorter than ChunkMin).
	ChunkMin = 32 << 10
	ChunkMax = 256 << 10
	// chunkNormal is FastCDC's normal size, in bytes: cuts are harder
	// before it and easier after it, so chunks average about 64 KiB
	// (70 KiB on random data).
	chunkNormal = 64 << 10
	// chunkAlgorithm is the go-cdc-chunkers name of the chunker.
	chunkAlgorithm = "fastcdc-v1.0.0"
)

// Chunk is one content-defined chunk of a file.
type Chunk struct {
	Offset uint64 // bytes from the start of the file
	Length uint64
	Sum    wire.ChunkSum // BLAKE3-256 of the bytes
}

// Chunks cuts r into content-defined chunks, front to back, and calls fn
// for each with its offset, length and BLAKE3-256. It reads r once,
// holding 2*ChunkMax bytes at a time, and cuts here while a goroutine of
// its own sums the chunks and calls fn, in order: cutting and summing
// take about as long as each other (FastCDC and BLAKE3 both about
// 0.4 s a GiB on one core of the bench machine: pprof of S8), so on two
// cores the pass takes about half as long. Up to chunkSumQueue chunks
// (copied, at most 2 MiB) wait between the two. It stops at the first
// error of r or fn, or when ctx ends.
func Chunks(ctx context.Context, r io.Reader, fn func(c Chunk) error) error {
	return chunksTo(ctx, r, fn, nil)
}

// chunksTo is Chunks that also hands each chunk's bytes, with their
// offset, to sink (when not nil), in the summing goroutine, after the
// sum and before fn: b is valid only during the call.
func chunksTo(ctx context.Context, r io.Reader, fn func(c Chunk) error, sink func(off uint64, b []byte)) error {
	ch, err := chunkers.NewChunker(chunkAlgorithm, r, &chunkers.ChunkerOpts{MinSize: ChunkMin, NormalSize: chunkNormal, MaxSize: ChunkMax})
	if err != nil {
		return err // the options above are valid: not reached
	}
	type cut struct {
		off uint64
		b   []byte
	}
	cuts := make(chan cut, chunkSumQueue)
	free := make(chan []byte, chunkSumQueue)
	for range chunkSumQueue {
		free <- make([]byte, ChunkMax)
	}
	stop := make(chan struct{}) // closed when fn fails
	var ferr error              // fn's error; read after the summer ends
	var wg sync.WaitGroup
	wg.Go(func() {
		for c := range cuts {
			if ferr == nil {
				sum := blake3.Sum256(c.b)
				if sink != nil {
					sink(c.off, c.b)
				}
				if ferr = fn(Chunk{Offset: c.off, Length: uint64(len(c.b)), Sum: sum}); ferr != nil {
					close(stop)
				}
			}
			free <- c.b[:cap(c.b)]
		}
	})
	cerr := func() error {
		var off uint64
		for {
			if err := ctx.Err(); err != nil {
				return CtxError(ctx)
			}
			b, err := ch.Next()
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			if len(b) > 0 {
				var buf []byte
				select {
				case buf = <-free:
				case <-stop:
					return nil // fn's error is returned
				}
				if len(b) > len(buf) {
					buf = make([]byte, len(b)) // not reached: FastCDC cuts at ChunkMax
				}
				// The chunker reuses b: the summer gets a copy.
				cuts <- cut{off, buf[:copy(buf, b)]}
				off += uint64(len(b))
			}
			if err != nil {
				return nil // io.EOF
			}
		}
	}()
	close(cuts)
	wg.Wait()
	if ferr != nil {
		return ferr
	}
	return cerr
}

// chunkSumQueue is how many cut chunks may wait for their sums.
const chunkSumQueue = 8

package xfer

import (
	"math/bits"
	"sync"
)

// The buffers of the data path come in size classes, powers of two from
// minChunk to ChunkSize bytes, and a range takes the smallest class that
// holds it whole (or ChunkSize). Issue 17: memory bounded by the work in
// flight, and small. Up to maxSmallInFlight (session) files of at most
// ChunkSize move at once; with one ChunkSize buffer each for any file over
// 16 KiB, the 13,206 files of 16-64 KiB of the Linux kernel tree held
// 256 KiB apiece, and a push of the tree peaked at 92 MB of client RSS
// against 57 MB for 200,000 one-byte files. A class at most doubles a
// range's length.
const (
	minChunk     = 16 << 10
	minChunkBits = 14 // log2(minChunk)
	chunkClasses = 5  // 16, 32, 64, 128 and 256 KiB
)

// chunkPools holds the free buffers of each class, smallest first.
var chunkPools [chunkClasses]sync.Pool

func init() {
	for i := range chunkPools {
		size := minChunk << i
		chunkPools[i].New = func() any { b := make([]byte, size); return &b }
	}
}

// chunkClass is the index of the smallest class holding n bytes, or of
// ChunkSize's class when n is larger.
func chunkClass(n uint64) int {
	if n <= minChunk {
		return 0
	}
	c := bits.Len64(n-1) - minChunkBits
	return min(c, chunkClasses-1)
}

// getChunk returns a pooled buffer for a range of n bytes: as long as the
// smallest class that holds n, or ChunkSize bytes for a longer range.
// Give it back with putChunk.
func getChunk(n uint64) *[]byte {
	return chunkPools[chunkClass(n)].Get().(*[]byte)
}

// putChunk gives back a buffer of getChunk.
func putChunk(bp *[]byte) {
	chunkPools[chunkClass(uint64(len(*bp)))].Put(bp)
}

// lazyChunk is a pooled ChunkSize chunk taken on first use, for readers
// that often have nothing to read.
type lazyChunk struct{ b []byte }

func (c *lazyChunk) get() []byte {
	if c.b == nil {
		c.b = *getChunk(ChunkSize)
	}
	return c.b
}

func (c *lazyChunk) release() {
	if b := c.b; b != nil {
		c.b = nil
		putChunk(&b) // a pointer to its own header, not to c.b
	}
}

// ChunkFor is the length in bytes of the buffer a range of n bytes is
// moved through (getChunk): what one range of a file of n bytes holds while
// it moves.
func ChunkFor(n uint64) int64 { return minChunk << chunkClass(n) }

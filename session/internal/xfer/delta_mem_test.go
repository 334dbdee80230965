package xfer

import (
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// tenGiBChunks is the number of chunks of a 10 GiB file at 64 KiB, the
// nominal average (FastCDC averages about 70 KiB on random data, so a
// real 10 GiB file has fewer).
const tenGiBChunks = (10 << 30) / (64 << 10)

// sigBatches calls fn with the signature of a 10 GiB file, in DeltaSig
// batches of distinct chunks of 64 KiB (distinct sums, as random data
// has), without chunking 10 GiB: the memory of what a peer keeps of a
// signature depends on the number of chunks, not on their bytes.
func sigBatches(t testing.TB, fn func(batch []wire.SigChunk)) {
	t.Helper()
	batch := make([]wire.SigChunk, wire.MaxSigChunks)
	var n uint64
	for added := 0; added < tenGiBChunks; added += len(batch) {
		batch = batch[:min(len(batch), tenGiBChunks-added)]
		for i := range batch {
			n++
			batch[i] = wire.SigChunk{Length: 64 << 10}
			binary.LittleEndian.PutUint64(batch[i].Sum[:], n)
		}
		fn(batch)
	}
}

// heapGrowth returns the live heap that build leaves, in bytes, after a
// collection on either side.
func heapGrowth(build func()) int64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	build()
	runtime.GC()
	runtime.ReadMemStats(&after)
	return int64(after.HeapInuse) - int64(before.HeapInuse)
}

// TestDeltaMemory10GiB: what both peers keep of a delta of a 10 GiB
// file fits in a few tens of MiB, as issue 18 requires: the sender's
// index of the receiver's signature plus its own chunk list of the new
// version, and the receiver's kept signature (Base), each measured as
// live heap after a GC, all within 64 MiB together.
func TestDeltaMemory10GiB(t *testing.T) {
	var (
		ix     Index
		base   Base
		chunks []Chunk
	)
	index := heapGrowth(func() {
		sigBatches(t, func(batch []wire.SigChunk) {
			if err := ix.Add(batch, "f"); err != nil {
				t.Fatal(err)
			}
		})
	})
	kept := heapGrowth(func() { sigBatches(t, base.keep) })
	list := heapGrowth(func() {
		var off uint64
		sigBatches(t, func(batch []wire.SigChunk) {
			for _, c := range batch {
				chunks = append(chunks, Chunk{Offset: off, Length: c.Length, Sum: c.Sum})
				off += c.Length
			}
		})
	})
	t.Logf("10 GiB in %d chunks: sender's index %.1f MiB, its chunk list %.1f MiB; receiver's kept signature %.1f MiB",
		tenGiBChunks, mib(index), mib(list), mib(kept))
	if ix.Len() != tenGiBChunks || len(base.ends) != tenGiBChunks || len(chunks) != tenGiBChunks {
		t.Fatalf("index %d, kept %d, list %d chunks, want %d each", ix.Len(), len(base.ends), len(chunks), tenGiBChunks)
	}
	if index > 32<<20 || kept > 16<<20 || list > 16<<20 || index+kept+list > 64<<20 {
		t.Errorf("index %d, kept signature %d, chunk list %d bytes: want at most 32, 16 and 16 MiB, 64 MiB together", index, kept, list)
	}
	// Seed finds a kept chunk by binary search over the ends.
	last := wire.CopyOp{Source: uint64(tenGiBChunks-1) << 16, Length: 64 << 10}
	binary.LittleEndian.PutUint64(last.Sum[:], tenGiBChunks)
	if !base.named(last) {
		t.Error("the last chunk of the kept signature is not found")
	}
	last.Source++
	if base.named(last) {
		t.Error("an operation one byte off a chunk is taken for it")
	}
	runtime.KeepAlive(&ix)
	runtime.KeepAlive(chunks)
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// genReader yields n pseudo-random bytes (ChaCha8), for chunking a big
// version without a file.
type genReader struct {
	r *rand.ChaCha8
	n int64
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.n == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), g.n)]
	g.r.Read(p)
	g.n -= int64(len(p))
	return len(p), nil
}

// BenchmarkSignature chunks a generated version of QXFER_SIG_BENCH_MIB
// MiB (default 256; 10240 for issue 18's 10 GiB) into its signature, as
// the receiver does, keeping it as Base does, and reports the chunking
// speed, the chunks, and the heap in use at the end (the kept signature
// plus the chunker's buffers), in MiB.
func BenchmarkSignature(b *testing.B) {
	mibs := 256
	if v, err := strconv.Atoi(os.Getenv("QXFER_SIG_BENCH_MIB")); err == nil && v > 0 {
		mibs = v
	}
	size := int64(mibs) << 20
	b.SetBytes(size)
	var heap uint64
	var n int
	for b.Loop() {
		var base Base
		runtime.GC()
		err := Signature(context.Background(), &genReader{r: rand.NewChaCha8([32]byte{1}), n: size}, func(chunks []wire.SigChunk, last bool) error {
			base.keep(chunks)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heap, n = max(heap, ms.HeapInuse), len(base.ends)
		runtime.KeepAlive(&base)
	}
	b.ReportMetric(float64(n), "chunks")
	b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
}

package session

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// TestStreamMemoryMidFiles bounds what a push of files of a few tens of KiB
// holds in flight, client and server together (one process): the shape
// of the Linux kernel tree, whose 13,206 files of 16-64 KiB each held a
// 256 KiB buffer on both sides while up to 128 of them moved at once, and
// made the client's peak RSS 92 MB (issue 17: at most 64 MB). The live
// heap, sampled (after a GC) as the walk goes, may exceed the heap before
// the push by the buffers the budget lets move (smallBudget per side)
// and the queue, not by 128 × 256 KiB per side.
func TestStreamMemoryMidFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 3,000 files of 20 KiB")
	}
	const (
		files  = 3000
		size   = 20 << 10
		perDir = 100
	)
	defer func(n int) { streamAhead = n }(streamAhead)
	streamAhead = 256
	ts, c := startWithClient(t)
	ctx := longCtx(t)
	src := filepath.Join(t.TempDir(), "tree")
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	for i := range files {
		dir := filepath.Join(src, fmt.Sprintf("d%03d", i/perDir))
		if i%perDir == 0 {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d.c", i)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	live := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	base := live()
	var (
		mu   sync.Mutex
		peak uint64
		n    int
	)
	opts := Options{Recursive: true, Found: func(found []TransferInfo, more bool) {
		mu.Lock()
		defer mu.Unlock()
		n++
		peak = max(peak, live())
	}}
	rep, err := c.Push(ctx, []string{src}, "up", opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Err() != nil || rep.Count(Done) != files {
		t.Fatalf("push: %v, %d done, want %d", rep.Err(), rep.Count(Done), files)
	}
	if got, err := os.ReadFile(filepath.Join(ts.root, "up", "tree", "d029", "f02999.c")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("last file: %d bytes, %v; want the source's %d", len(got), err, len(data))
	}
	if n < 5 {
		t.Fatalf("%d samples of the heap, want at least 5", n)
	}
	growth := int64(peak) - int64(base)
	t.Logf("live heap %.2f MB before the push, at most %.2f MB during it (%d samples)", float64(base)/1e6, float64(peak)/1e6, n)
	// Both sides' buffers (2 × smallBudget), the queue and the jobs in
	// flight (a few MB); one 256 KiB buffer per file in flight was 64 MB.
	const limit = 24 << 20
	if growth > limit {
		t.Errorf("the live heap grew by %.1f MB during the push, want at most %d MB", float64(growth)/1e6, limit>>20)
	}
}

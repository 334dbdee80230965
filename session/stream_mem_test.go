package session

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// streamMemFiles is the tree TestStreamMemory pushes.
const streamMemFiles = 60_000

// streamMemPerDir is the files of each of its directories: a walk holds
// a directory's entries, and the push its destination listing, while
// it is in it.
const streamMemPerDir = 200

// TestStreamMemory bounds what a streamed push holds per file, client
// and server together (one process): a no-op push of 60,000 files, each
// found up to date by its directory's listing, samples the live heap (after
// a GC) as the walk goes, and the heap of the second half of the push may
// exceed the first half's by what is in flight, not by a few bytes per
// file of the second half. Issue 17: memory bounded by the work in flight, not by the tree;
// before the streamed walk the client held about 600 bytes per file from
// the walk to the report.
func TestStreamMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 120,000 files")
	}
	ts, c, ctx, src := startStreamMem(t)
	mtime := time.Date(2021, 5, 6, 7, 8, 9, 0, time.UTC)
	begin := time.Now()
	for _, root := range []string{src, filepath.Join(ts.root, "up", "tree")} {
		writeNumberedTree(t, root, streamMemFiles, streamMemPerDir, []byte("x"), mtime)
	}
	t.Logf("trees written in %s", time.Since(begin).Round(time.Millisecond))
	begin = time.Now()
	var (
		mu      sync.Mutex
		seen    int
		next    = streamAhead * 2
		samples []uint64 // live heap, every streamAhead files found
		at      []int
	)
	opts := Options{Recursive: true, Found: func(files []TransferInfo, more bool) {
		mu.Lock()
		defer mu.Unlock()
		seen += len(files)
		if seen >= next {
			next += streamAhead
			samples = append(samples, liveHeap())
			at = append(at, seen)

		}
	}}
	rep, err := c.Push(ctx, []string{src}, "up", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pushed in %s", time.Since(begin).Round(time.Millisecond))
	if rep.Err() != nil || rep.Count(Skipped) != streamMemFiles {
		t.Fatalf("push: %v, %d up to date, want %d", rep.Err(), rep.Count(Skipped), streamMemFiles)
	}
	if len(samples) < 10 {
		t.Fatalf("%d samples of the heap, want at least 10", len(samples))
	}
	// The floor of each half: what every sample holds, in flight or
	// not. A record kept per file raises the second half's.
	half := len(samples) / 2
	floor := func(s []uint64) uint64 {
		m := s[0]
		for _, v := range s {
			m = min(m, v)
		}
		return m
	}
	first, second := floor(samples[:half]), floor(samples[half:])
	files := at[len(at)-1] - at[half-1]
	growth := float64(int64(second)-int64(first)) / float64(files)
	t.Logf("live heap at least %.2f MB over the first half, %.2f MB over the second (%d files later): %.1f bytes per file", float64(first)/1e6, float64(second)/1e6, files, growth)
	// What is in flight at a sample (a directory's entries and
	// listing, jobs queued and running) varies by up to about 1 MB: 2 MB
	// over 30,000 files is 70 bytes a file, against the 600 the
	// collected walk held.
	const limit = 2 << 20
	if second > first+limit {
		t.Errorf("the heap grew by %.0f KB (%.1f bytes per file) while the push went on, want at most %d KB", float64(second-first)/1024, growth, limit>>10)
	}
	if len(rep.Files) > maxReportFiles+maxReportFailures {
		t.Errorf("the report lists %d files, want at most %d", len(rep.Files), maxReportFiles+maxReportFailures)
	}
}

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
	ts, c, ctx, src := startStreamMem(t)
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	writeNumberedTree(t, src, files, perDir, data, time.Time{})
	base := liveHeap()
	var (
		mu   sync.Mutex
		peak uint64
		n    int
	)
	opts := Options{Recursive: true, Found: func(found []TransferInfo, more bool) {
		mu.Lock()
		defer mu.Unlock()
		n++
		peak = max(peak, liveHeap())
	}}
	rep, err := c.Push(ctx, []string{src}, "up", opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Err() != nil || rep.Count(Done) != files {
		t.Fatalf("push: %v, %d done, want %d", rep.Err(), rep.Count(Done), files)
	}
	if got, err := os.ReadFile(filepath.Join(ts.root, "up", "tree", "d0029", "f0002999.c")); err != nil || !bytes.Equal(got, data) {
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

// startStreamMem starts a server and a client for a memory test, with a
// short queue (streamAhead 256, restored when the test ends: what the
// queue holds at a sample is then noise), and returns them, a long
// context and the path of the source tree to write ("tree" in a
// temporary directory).
func startStreamMem(t *testing.T) (*testServer, *clientConn, context.Context, string) {
	t.Helper()
	n := streamAhead
	t.Cleanup(func() { streamAhead = n })
	streamAhead = 256
	ts, c := startWithClient(t)
	return ts, c, longCtx(t), filepath.Join(t.TempDir(), "tree")
}

// writeNumberedTree writes n files holding data under root, perDir of
// them in each directory: file i is dDDDD/fFFFFFFF.c, DDDD being i/perDir
// and FFFFFFF i. A non-zero mtime becomes every file's modification time.
func writeNumberedTree(t *testing.T, root string, n, perDir int, data []byte, mtime time.Time) {
	t.Helper()
	for i := range n {
		dir := filepath.Join(root, fmt.Sprintf("d%04d", i/perDir))
		if i%perDir == 0 {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		p := filepath.Join(dir, fmt.Sprintf("f%07d.c", i))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if mtime.IsZero() {
			continue
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

// liveHeap returns the bytes of live heap objects after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

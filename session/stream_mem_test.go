package session

import (
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
	// A short queue: what it holds at a sample (up to streamAhead
	// jobs of some 600 bytes) is noise here.
	defer func(n int) { streamAhead = n }(streamAhead)
	streamAhead = 256
	ts, c := startWithClient(t)
	ctx := longCtx(t)
	src := filepath.Join(t.TempDir(), "tree")
	mtime := time.Date(2021, 5, 6, 7, 8, 9, 0, time.UTC)
	begin := time.Now()
	for _, root := range []string{src, filepath.Join(ts.root, "up", "tree")} {
		for i := range streamMemFiles {
			dir := filepath.Join(root, fmt.Sprintf("d%04d", i/streamMemPerDir))
			if i%streamMemPerDir == 0 {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			p := filepath.Join(dir, fmt.Sprintf("f%07d.c", i))
			if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(p, mtime, mtime); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("trees written in %s", time.Since(begin).Round(time.Millisecond))
	begin = time.Now()
	live := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
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
			samples = append(samples, live())
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

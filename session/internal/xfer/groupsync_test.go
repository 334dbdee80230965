package xfer

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestGroupSync: files synced at once all come back, each with its
// sync's result, and a closed file's sync fails rather than claiming its
// bytes are durable.
func TestGroupSync(t *testing.T) {
	dir := t.TempDir()
	var g GroupSync
	var wg sync.WaitGroup
	errs := make([]error, 64)
	for i := range errs {
		f, err := os.Create(filepath.Join(dir, fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString("data"); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { errs[i] = g.Sync(f) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("file %d: got %v, want nil", i, err)
		}
	}
	f, err := os.Create(filepath.Join(dir, "closed"))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := g.Sync(f); err == nil {
		t.Errorf("sync of a closed file: got nil, want an error")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.leading || len(g.pending) > 0 {
		t.Errorf("after the last sync: got leading %v with %d pending, want neither", g.leading, len(g.pending))
	}
}

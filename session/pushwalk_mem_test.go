package session

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/rs/zerolog"
)

// walkMemFiles is the tree TestPushWalkMemory walks.
const walkMemFiles = 20_000

// TestPushWalkMemory bounds what the push walk holds per file, from the
// walk to the report: the jobs of a batch (its Transfers, sources, remote
// paths and what dedupe compares) for a tree of tiny files. Issue 17
// measured the client at about 20 MB + 1.9 KB per file on the kernel
// tree; this keeps the walk's share from growing back.
func TestPushWalkMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 20,000 files")
	}
	root := filepath.Join(t.TempDir(), "tree")
	for d := range walkMemFiles / 1000 {
		dir := filepath.Join(root, fmt.Sprintf("dir%03d", d))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for f := range 1000 {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("file-%04d.c", f)), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	c := &clientConn{log: zerolog.Nop(), table: NewTable()}
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	jobs, dirs, metas := c.pushJobs(root, "up/tree", Options{Recursive: true}, nil)
	jobs = dedupe(jobs)
	after := heap()
	runtime.KeepAlive(jobs)
	runtime.KeepAlive(dirs)
	runtime.KeepAlive(metas)
	if len(jobs) != walkMemFiles {
		t.Fatalf("%d jobs, want %d", len(jobs), walkMemFiles)
	}
	perFile := float64(after-before) / walkMemFiles
	t.Logf("%.0f bytes held per file after the walk", perFile)
	const limit = 700 // 842 before issue 17 (a whole fs.FileInfo per file); 586 with a fileID
	if perFile > limit {
		t.Errorf("the walk holds %.0f bytes per file, want at most %d", perFile, limit)
	}
}

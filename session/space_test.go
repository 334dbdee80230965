package session

import (
	"path/filepath"
	"testing"

	"github.com/qxfer/qxfer/internal/testutil"
)

// TestFullDiskLeavesNothing fills a 16 MiB file system with a file that
// cannot fit: the transfer fails with no_space and leaves nothing behind,
// so the next, smaller file fits. Regression: the .part of the failed
// push kept the space and every later push failed with no space.
func TestFullDiskLeavesNothing(t *testing.T) {
	for _, dir := range []Direction{Push, Pull} {
		t.Run(dir.String(), func(t *testing.T) {
			small := testutil.MountTmpfs(t, "size=16m")
			ts := startServer(t, ServerConfig{Root: map[Direction]string{Push: small, Pull: ""}[dir]}, nil)
			c := ts.dial(t, "")
			local := t.TempDir()
			src := local
			if dir == Pull {
				local, src = small, ts.root
			}
			testutil.WriteRandom(t, filepath.Join(src, "big"), 20<<20)
			want := testutil.WriteRandom(t, filepath.Join(src, "fits"), 10<<20)
			dst := map[Direction]string{Push: ts.root, Pull: local}[dir]
			for range 2 {
				f := onlyFile(t, "big", transferOf(dir, local, "big", Options{}), c)
				if e := fileError(t, f); e.Code != CodeNoSpace {
					t.Fatalf("big: got %v, want %v", e, CodeNoSpace)
				}
				testutil.NoPartials(t, dst)
				testutil.NoFile(t, filepath.Join(dst, "big"))
			}
			f := onlyFile(t, "fits", transferOf(dir, local, "fits", Options{}), c)
			if f.State != Done {
				t.Fatalf("fits: got %v (%v), want done", f.State, f.Err)
			}
			testutil.SameFile(t, filepath.Join(dst, "fits"), want)
			testutil.NoPartials(t, dst)
		})
	}
}

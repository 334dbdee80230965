package session

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/testutil"
)

// TestRateLimitTransfer moves 4 MiB through the real client and server
// on loopback with Options.RateLimit at 2 MiB/s: it must take at least
// about 2 s less one burst, whichever way the bytes go and however many
// files share the limit. Only the lower bound is checked; a slow machine
// may take longer. (xfer's TestRateLimitTransfer checks the engine alone.)
func TestRateLimitTransfer(t *testing.T) {
	const limit, total = 2 << 20, 4 << 20
	const minTime = 1700 * time.Millisecond
	for _, dir := range []Direction{Push, Pull} {
		for _, files := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/%d files", dir, files), func(t *testing.T) {
				ts, c := startWithClient(t)
				// Pushes go from local to the root's "up", pulls
				// back.
				local := t.TempDir()
				src, dst := local, filepath.Join(ts.root, "up")
				if dir == Pull {
					src, dst = dst, local
				}
				var sources []string
				data := map[string][]byte{}
				for i := range files {
					name := string(rune('a'+i)) + ".bin"
					data[name] = testutil.WriteRandom(t, filepath.Join(src, name), total/files)
					sources = append(sources, filepath.Join(src, name))
					if dir == Pull {
						sources[i] = "up/" + name
					}
				}
				opts := Options{Parallel: 2, RateLimit: NewRateLimiter(limit)}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				start := time.Now()
				var rep *Report
				var err error
				if dir == Pull {
					rep, err = c.Pull(ctx, sources, local, opts)
				} else {
					rep, err = c.Push(ctx, sources, "up", opts)
				}
				took := time.Since(start)
				checkReport(t, dir.String(), rep, err, files, Done)
				if err := rep.Err(); err != nil {
					t.Fatal(err)
				}
				for name, want := range data {
					testutil.SameFile(t, filepath.Join(dst, name), want)
				}
				if took < minTime {
					t.Errorf("%d bytes at %d B/s took %v, want at least %v", total, limit, took, minTime)
				}
				t.Logf("%d bytes took %v (%.2f MiB/s)", total, took, float64(total)/took.Seconds()/(1<<20))
			})
		}
	}
}

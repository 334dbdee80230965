package session

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/udpproxy"
)

// BenchmarkDelta pushes a changed file onto its older version by delta,
// for each case of issue 18 (deltaEdits), over the in-process proxy
// emulating the bench's clean link (50 ms RTT, 200 Mbit/s). The file is
// QXFER_DELTA_BENCH_MIB MiB (default 256). It reports the bytes on the
// wire (UDP payload both ways) as a fraction of the file's size,
// "wire/file", beside the time of one push.
func BenchmarkDelta(b *testing.B) {
	mib := 256
	if v, err := strconv.Atoi(os.Getenv("QXFER_DELTA_BENCH_MIB")); err == nil && v > 0 {
		mib = v
	}
	for _, tc := range deltaEdits {
		b.Run(tc.name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(3, 3))
			old := make([]byte, mib<<20)
			fillRandom(r, old)
			newer := tc.edit(old, r)
			ts := startServer(b, ServerConfig{}, nil)
			proxy := throttledProxy(b, ts, udpproxy.Config{Delay: 25 * time.Millisecond, RateBits: 200e6})
			c := ts.dial(b, proxy.Addr().String())
			local := b.TempDir()
			src := filepath.Join(local, "f.img")
			if err := os.WriteFile(src, newer, 0o644); err != nil {
				b.Fatal(err)
			}
			var wire uint64
			for b.Loop() {
				b.StopTimer()
				if err := os.WriteFile(filepath.Join(ts.root, "f.img"), old, 0o644); err != nil {
					b.Fatal(err)
				}
				before := wireBytes(proxy)
				b.StartTimer()
				rep, err := c.Push(longCtx(b), []string{src}, ".", Options{Force: true})
				if err != nil {
					b.Fatal(err)
				}
				if f := rep.Files[0]; f.Err != nil {
					b.Fatal(f.Err)
				}
				b.StopTimer()
				wire += wireBytes(proxy) - before
				b.StartTimer()
			}
			b.ReportMetric(float64(wire)/float64(b.N)/float64(len(newer)), "wire/file")
		})
	}
}

package session

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/testutil"
)

// benchWindow is how long each BenchmarkPoolLossy run pushes.
func benchWindow() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("QXFER_BENCH_WINDOW")); err == nil && d > 0 {
		return d
	}
	return 15 * time.Second
}

var (
	lossyFileOnce sync.Once
	lossyFile     string
)

// BenchmarkPoolLossy measures the goodput of a push over a link of 50 ms
// RTT, 200 Mbit/s and 1% random loss each way (the in-process proxy), for
// pools of 1, 4, 16 and 32 connections and for auto. Each run pushes for
// QXFER_BENCH_WINDOW (default 15s) and reports the bytes the server
// received in that time, so connection set-up and auto's ramp count
// against it, as they would for a user.
func BenchmarkPoolLossy(b *testing.B) {
	lossyFileOnce.Do(func() {
		dir, err := os.MkdirTemp("", "qxfer-bench")
		if err != nil {
			b.Fatal(err)
		}
		lossyFile = filepath.Join(dir, "lossy.bin")
		testutil.WriteRandom(b, lossyFile, 512<<20)
	})
	window := benchWindow()
	cases := []struct {
		name string
		pc   PoolConfig
	}{
		{"conns=1", PoolConfig{Size: 1}},
		{"conns=4", PoolConfig{Size: 4}},
		{"conns=16", PoolConfig{Size: 16}},
		{"conns=32", PoolConfig{Size: 32}},
		{"conns=64", PoolConfig{Size: 64}},
		{"auto", PoolConfig{Auto: true}},
	}
	results := map[string]float64{}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			var total float64
			runs := 0
			for b.Loop() {
				ts := startServer(b, ServerConfig{}, nil)
				p := lossyProxy(b, ts, 25*time.Millisecond, 0.01, 200_000_000)
				c := dialPool(b, ts, p.Addr().String(), tc.pc)
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() {
					defer close(done)
					c.PushFile(ctx, lossyFile, "lossy.bin", Options{})
				}()
				time.Sleep(window)
				var got int64
				for _, ti := range ts.srv.Transfers().Snapshot() {
					got += ti.Bytes
				}
				cancel()
				<-done
				size := c.PoolSize()
				c.Close()
				ts.stop()
				p.Close()
				mbit := float64(got) * 8 / window.Seconds() / 1e6
				b.Logf("%s: %.1f Mbit/s, pool %d, resizes %v", tc.name, mbit, size, c.PoolEvents())
				total += mbit
				runs++
			}
			b.ReportMetric(total/float64(runs), "Mbit/s")
			b.ReportMetric(0, "ns/op")
			results[tc.name] = total / float64(runs)
		})
	}
	best, bestName := 0.0, ""
	for name, v := range results {
		if name != "auto" && v > best {
			best, bestName = v, name
		}
	}
	if auto, ok := results["auto"]; ok && best > 0 {
		// The target: auto reaches at least 80% of the best
		// fixed pool size measured in the same run.
		b.Logf("auto %.1f Mbit/s = %.0f%% of the best fixed pool (%s, %.1f Mbit/s); target 80%%", auto, 100*auto/best, bestName, best)
	}
}

package session

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/testutil"
)

// TestPoolAuto checks the Auto controller's three decisions on a live
// push: it grows under random loss, stays at one connection on a clean
// link, and shrinks the pool when the RTT rises (a queue builds).
func TestPoolAuto(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 20s")
	}
	src := filepath.Join(t.TempDir(), "big.bin")
	testutil.WriteRandom(t, src, 256<<20)
	tests := []struct {
		name  string
		loss  float64
		rate  int64
		max   int // PoolConfig.Max; 0 for the default
		after func(t *testing.T, c *clientConn, ts *testServer, setDelay func(time.Duration))
	}{
		{
			name: "random loss grows the pool",
			loss: 0.01, rate: 200_000_000,
			after: func(t *testing.T, c *clientConn, _ *testServer, _ func(time.Duration)) {
				testutil.Eventually(t, 15*time.Second, "pool grows past 4", func() bool { return c.PoolSize() > 4 })
				for _, ev := range c.PoolEvents() {
					if ev.Loss < autoLossFloor || ev.RTTRise > autoRandomRTT {
						t.Errorf("grew on loss %.4f, rtt rise %.2f", ev.Loss, ev.RTTRise)
					}
				}
			},
		},
		{
			// A rate limit with a drop-tail queue: the only loss is
			// the queue overflowing, after the RTT has risen.
			name: "clean link stays on one connection",
			rate: 50_000_000,
			after: func(t *testing.T, c *clientConn, _ *testServer, _ func(time.Duration)) {
				time.Sleep(4 * time.Second)
				if n := c.PoolSize(); n != 1 {
					t.Errorf("pool size %d on a clean link, want 1 (events %+v)", n, c.PoolEvents())
				}
			},
		},
		{
			// Bounded at 16, so the pool is at its final size
			// before the RTT changes (1, 4, 16).
			name: "rising rtt shrinks the pool",
			loss: 0.01, rate: 200_000_000, max: 16,
			after: func(t *testing.T, c *clientConn, _ *testServer, setDelay func(time.Duration)) {
				testutil.Eventually(t, 15*time.Second, "pool grows to 16", func() bool { return c.PoolSize() == 16 })
				grown := c.PoolSize()
				// A standing queue: every packet now waits 3x as
				// long as the minimum the connections have seen.
				setDelay(75 * time.Millisecond)
				testutil.Eventually(t, 15*time.Second, "pool shrinks", func() bool { return c.PoolSize() < grown })
				last := c.PoolEvents()[len(c.PoolEvents())-1]
				if last.RTTRise < autoCongestedRTT {
					t.Errorf("shrank with rtt rise %.2f", last.RTTRise)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, ServerConfig{}, nil)
			p := lossyProxy(t, ts, 25*time.Millisecond, tc.loss, tc.rate)
			c := dialPool(t, ts, p.Addr().String(), PoolConfig{Auto: true, Max: tc.max})
			if n := c.PoolSize(); n != 1 {
				t.Fatalf("auto starts with %d connections, want 1", n)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				c.PushFile(ctx, src, "big.bin", Options{})
			}()
			tc.after(t, c, ts, p.SetDelay)
			cancel()
			<-done
		})
	}
}

package xfer

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/testutil"
)

// fakeClock is a settable time source for the token bucket.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestRateLimiterBucket(t *testing.T) {
	const rate = 1 << 20  // 1 MiB/s: the burst is the 64 KiB minimum
	const big = 100 << 20 // 100 MiB/s: the burst is 50 ms worth
	type step struct {
		advance time.Duration
		op      string // "take", "delay" or "consume"
		n       int
		want    int64 // bytes granted, or nanoseconds to wait
	}
	tests := []struct {
		name  string
		rate  int64
		steps []step
	}{
		{
			name: "starts with a full burst",
			rate: rate,
			steps: []step{
				{op: "take", n: 100 << 10, want: 64 << 10},
				{op: "take", n: 1, want: 0},
			},
		},
		{
			name: "refills at the rate",
			rate: rate,
			steps: []step{
				{op: "take", n: 64 << 10, want: 64 << 10},
				{advance: 10 * time.Millisecond, op: "take", n: 1 << 20, want: 10485}, // 1 MiB/s * 10 ms, whole bytes
			},
		},
		{
			name: "never holds more than the burst",
			rate: rate,
			steps: []step{
				{advance: time.Hour, op: "take", n: 1 << 30, want: 64 << 10},
			},
		},
		{
			name: "burst is 50 ms worth at high rates",
			rate: big,
			steps: []step{
				{op: "take", n: 1 << 30, want: big / 20},
			},
		},
		{
			name: "less than a packet is not granted",
			rate: rate,
			steps: []step{
				{op: "take", n: 64<<10 - 1000, want: 64<<10 - 1000},
				{op: "take", n: 1400, want: 0},                               // 1000 tokens left
				{op: "take", n: 800, want: 800},                              // a small write needs only its size
				{advance: time.Millisecond, op: "take", n: 1400, want: 1248}, // 200 + 1048
			},
		},
		{
			name: "delay until enough tokens",
			rate: rate,
			steps: []step{
				{op: "take", n: 64 << 10, want: 64 << 10},
				{op: "delay", n: 1 << 20, want: int64(time.Second / 16)}, // capped at the burst: 64 KiB at 1 MiB/s
				{op: "delay", n: 1024, want: int64(time.Second / 1024)},
				{advance: time.Second, op: "delay", n: 1024, want: 0},
			},
		},
		{
			name: "consume goes into debt",
			rate: rate,
			steps: []step{
				{op: "consume", n: 32 << 10, want: 0},
				{op: "consume", n: 32<<10 + 1<<20, want: int64(time.Second)},
				{advance: 500 * time.Millisecond, op: "delay", n: 0, want: int64(time.Second / 2)},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &fakeClock{t: time.Unix(1000, 0)}
			l := newRateLimiter(tt.rate, clk.now)
			for i, s := range tt.steps {
				clk.advance(s.advance)
				var got int64
				switch s.op {
				case "take":
					got = int64(l.take(s.n))
				case "delay":
					got = int64(l.delay(s.n))
				case "consume":
					got = int64(l.consume(s.n))
				}
				if got != s.want {
					t.Fatalf("step %d: %s(%d) got %d, want %d", i, s.op, s.n, got, s.want)
				}
			}
		})
	}
}

func TestNewRateLimiterZeroIsNil(t *testing.T) {
	for _, r := range []int64{0, -1} {
		if l := NewRateLimiter(r); l != nil {
			t.Errorf("NewRateLimiter(%d) got %v, want nil", r, l)
		}
	}
	var l *RateLimiter
	if got := l.Rate(); got != 0 {
		t.Errorf("nil limiter rate: got %d, want 0", got)
	}
	if err := l.pace(context.Background(), 1<<30); err != nil {
		t.Errorf("nil limiter pace: got %v, want nil", err)
	}
}

func TestRateLimiterWaitCancelled(t *testing.T) {
	l := NewRateLimiter(1024) // the 64 KiB burst refills in a minute
	l.take(64 << 10)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := l.wait(ctx, 32<<10); err == nil {
		t.Fatal("wait: got nil, want the context's error")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("wait returned after %v, want soon after the context ended", d)
	}
}

// TestRateLimitTransfer moves 4 MiB over loopback QUIC with a 2 MiB/s
// limit: it must take at least about 2 s less one burst, whichever side
// holds the limit and however many files share it. Only the lower bound
// is checked; a slow machine may take longer.
func TestRateLimitTransfer(t *testing.T) {
	const (
		limit   = 2 << 20
		total   = 4 << 20
		minTime = 1700 * time.Millisecond
	)
	tests := []struct {
		name  string
		recv  bool // the receiver holds the limit (a pull), not the sender (a push)
		files int
	}{
		{name: "push one file", files: 1},
		{name: "push two files in parallel", files: 2},
		{name: "pull one file", recv: true, files: 1},
		{name: "pull two files in parallel", recv: true, files: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lb, ctx := newLoopback(t)
			src := t.TempDir()
			dst, root := testutil.TempRoot(t)
			lim := NewRateLimiter(limit)
			type file struct {
				name string
				data []byte
				f    Source
				meta FileMeta
			}
			var files []file
			for i := range tt.files {
				name := string(rune('a'+i)) + ".bin"
				data := testutil.WriteRandom(t, filepath.Join(src, name), total/tt.files)
				f, meta, err := OpenSource(LocalFS{}, filepath.Join(src, name), name)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				files = append(files, file{name, data, f, meta})
			}
			start := time.Now()
			var wg sync.WaitGroup
			for i, fl := range files {
				wg.Go(func() {
					rcfg := ReceiverConfig{Root: root, Path: fl.name, Meta: fl.meta}
					scfg := SenderConfig{Path: fl.name, File: fl.f, Meta: fl.meta}
					if tt.recv {
						rcfg.Limit = lim
					} else {
						scfg.Limit = lim
					}
					o := lb.run(ctx, uint64(i+1), rcfg, scfg)
					if o.sendErr != nil || o.recvErr != nil {
						t.Errorf("%s: got Run %v, Wait %v; want no errors", fl.name, o.sendErr, o.recvErr)
					}
				})
			}
			wg.Wait()
			took := time.Since(start)
			for _, fl := range files {
				testutil.SameFile(t, filepath.Join(dst, fl.name), fl.data)
			}
			if took < minTime {
				t.Errorf("%d bytes at %d B/s took %v, want at least %v", total, limit, took, minTime)
			}
			t.Logf("%d bytes took %v (%.2f MiB/s)", total, took, float64(total)/took.Seconds()/(1<<20))
		})
	}
}

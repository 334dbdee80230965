package udpproxy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/testutil"
)

func seqPacket(i, size int) []byte {
	b := make([]byte, max(size, 8))
	binary.BigEndian.PutUint64(b, uint64(i))
	return b
}

func seqOf(b []byte) int { return int(binary.BigEndian.Uint64(b)) }

// pingRTTs measures n ping-pong round trips through p.
func pingRTTs(t *testing.T, c *net.UDPConn, n int) []time.Duration {
	t.Helper()
	rtts := make([]time.Duration, n)
	for i := range rtts {
		msg := fmt.Appendf(nil, "rtt %d", i)
		start := time.Now()
		send(t, c, msg)
		if got := recv(t, c); !bytes.Equal(got, msg) {
			t.Fatalf("client got %q, want %q", got, msg)
		}
		rtts[i] = time.Since(start)
	}
	slices.Sort(rtts)
	return rtts
}

func TestDelay(t *testing.T) {
	testutil.LeakCheck(t)
	srv := newServer(t, true)
	const delay = 25 * time.Millisecond
	p := newProxy(t, Config{Server: srv.addr(), Delay: delay})
	c := dial(t, p)

	// Every round trip must take at least 2*delay. Scheduling noise on a
	// shared machine only adds time, so the upper bound is checked on the
	// lower quartile, which a loaded machine still gets right.
	rtts := pingRTTs(t, c, 20)
	q1, median := rtts[len(rtts)/4], rtts[len(rtts)/2]
	t.Logf("RTT through %s one-way delay: min %s, p25 %s, median %s, max %s", delay, rtts[0], q1, median, rtts[len(rtts)-1])
	if rtts[0] < 2*delay {
		t.Errorf("min RTT: got %s, want >= %s", rtts[0], 2*delay)
	}
	if q1 > 120*time.Millisecond {
		t.Errorf("p25 RTT: got %s, want <= 120ms", q1)
	}

	const shorter = 5 * time.Millisecond
	p.SetDelay(shorter)
	rtts = pingRTTs(t, c, 5)
	t.Logf("RTT after SetDelay(%s): min %s, median %s", shorter, rtts[0], rtts[len(rtts)/2])
	if rtts[0] < 2*shorter {
		t.Errorf("min RTT after SetDelay: got %s, want >= %s", rtts[0], 2*shorter)
	}
	// Without SetDelay every round trip would take at least 2*delay.
	if rtts[0] >= 2*delay {
		t.Errorf("min RTT after SetDelay(%s): got %s, want < %s", shorter, rtts[0], 2*delay)
	}
}

func TestJitterOrder(t *testing.T) {
	tests := []struct {
		name    string
		reorder bool
	}{
		{name: "order kept", reorder: false},
		{name: "reorder", reorder: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testutil.LeakCheck(t)
			srv := newServer(t, false)
			const delay, jitter = 2 * time.Millisecond, 20 * time.Millisecond
			p := newProxy(t, Config{Server: srv.addr(), Delay: delay, Jitter: jitter, Reorder: tt.reorder, Seed: 1})
			c := dial(t, p)
			const n = 200
			start := time.Now()
			for i := range n {
				send(t, c, seqPacket(i, 100))
			}
			inversions := 0
			last := -1
			for range n {
				d := srv.next(t)
				if s := seqOf(d.data); s < last {
					inversions++
				} else {
					last = s
				}
			}
			if elapsed := time.Since(start); elapsed < delay {
				t.Errorf("all packets after %s, want >= %s", elapsed, delay)
			}
			if tt.reorder && inversions == 0 {
				t.Errorf("reordered packets: got 0, want some with Reorder and %s jitter", jitter)
			}
			if !tt.reorder && inversions != 0 {
				t.Errorf("reordered packets: got %d, want 0 without Reorder", inversions)
			}
		})
	}
}

// lossRun sends n numbered packets through a proxy with the given loss and
// seed, and reports which arrived. It sends in batches and waits for the
// proxy to account for each batch, so no packet is lost in a socket buffer.
func lossRun(t *testing.T, loss float64, seed int64, n int) ([]bool, Stats) {
	t.Helper()
	srv := newServer(t, false)
	p := newProxy(t, Config{Server: srv.addr(), Loss: loss, Seed: seed})
	c := dial(t, p)
	const batch = 100
	for i := 0; i < n; i += batch {
		for j := i; j < min(i+batch, n); j++ {
			send(t, c, seqPacket(j, 100))
		}
		sent := uint64(min(i+batch, n))
		waitStats(t, p, fmt.Sprintf("%d packets accounted", sent), func(s Stats) bool {
			return s.ToServer.Packets+s.ToServer.Dropped == sent
		})
	}
	s := p.Stats()
	got := make([]bool, n)
	for range s.ToServer.Packets {
		got[seqOf(srv.next(t).data)] = true
	}
	srv.empty(t)
	return got, s
}

func TestLoss(t *testing.T) {
	tests := []struct {
		name     string
		loss     float64
		min, max float64 // accepted fraction of packets dropped
	}{
		{name: "none", loss: 0, min: 0, max: 0},
		{name: "thirty percent", loss: 0.3, min: 0.25, max: 0.35},
		{name: "all", loss: 1, min: 1, max: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testutil.LeakCheck(t)
			const n = 2000
			_, s := lossRun(t, tt.loss, 42, n)
			frac := float64(s.ToServer.Dropped) / n
			t.Logf("loss %.2f: dropped %d of %d (%.3f)", tt.loss, s.ToServer.Dropped, n, frac)
			if frac < tt.min || frac > tt.max {
				t.Errorf("dropped fraction: got %.3f, want in [%.2f, %.2f]", frac, tt.min, tt.max)
			}
			if s.ToServer.DroppedBytes != s.ToServer.Dropped*100 {
				t.Errorf("dropped bytes: got %d, want %d", s.ToServer.DroppedBytes, s.ToServer.Dropped*100)
			}
			if s.ToServer.Packets+s.ToServer.Dropped != n {
				t.Errorf("packets + dropped: got %d, want %d", s.ToServer.Packets+s.ToServer.Dropped, n)
			}
		})
	}
}

func TestLossSeedDeterministic(t *testing.T) {
	testutil.LeakCheck(t)
	const n = 500
	a, _ := lossRun(t, 0.3, 7, n)
	b, _ := lossRun(t, 0.3, 7, n)
	if !slices.Equal(a, b) {
		t.Errorf("same seed: delivered packets differ between runs")
	}
	c, _ := lossRun(t, 0.3, 8, n)
	if slices.Equal(a, c) {
		t.Errorf("different seeds: delivered packets identical, want different")
	}
}

func TestSetLoss(t *testing.T) {
	testutil.LeakCheck(t)
	srv := newServer(t, true)
	p := newProxy(t, Config{Server: srv.addr()})
	c := dial(t, p)

	p.SetLoss(1, 0)
	send(t, c, []byte("lost"))
	waitStats(t, p, "to-server drop", func(s Stats) bool { return s.ToServer.Dropped == 1 })

	p.SetLoss(0, 1)
	send(t, c, []byte("one way"))
	if d := srv.next(t); string(d.data) != "one way" {
		t.Fatalf("server got %q, want %q", d.data, "one way")
	}
	waitStats(t, p, "to-client drop", func(s Stats) bool { return s.ToClient.Dropped == 1 })

	p.SetLoss(0, 0)
	send(t, c, []byte("both"))
	if d := srv.next(t); string(d.data) != "both" {
		t.Fatalf("server got %q, want %q", d.data, "both")
	}
	if got := recv(t, c); string(got) != "both" {
		t.Fatalf("client got %q, want %q", got, "both")
	}
}

func TestRateLimit(t *testing.T) {
	testutil.LeakCheck(t)
	srv := newServer(t, true)
	const (
		rate   = 8_000_000 // bits per second: 1 MB/s
		size   = 1000
		n      = 1000 // 1 MB
		window = 64   // packets in flight, well under the queue
	)
	p := newProxy(t, Config{Server: srv.addr(), RateBits: rate, QueueBytes: 1 << 20})
	c := dial(t, p)
	c.SetReadBuffer(1 << 20)

	start := time.Now()
	sent, got := 0, 0
	for got < n {
		for sent < n && sent-got < window {
			send(t, c, seqPacket(sent, size))
			sent++
		}
		b := recv(t, c)
		if s := seqOf(b); s != got {
			t.Fatalf("echo %d: got sequence %d", got, s)
		}
		got++
	}
	elapsed := time.Since(start)
	t.Logf("1 MB each way through %d bit/s took %s (%.2f Mbit/s)", rate, elapsed, float64(n*size*8)/elapsed.Seconds()/1e6)
	if elapsed < 900*time.Millisecond {
		t.Errorf("1 MB at %d bit/s: took %s, want >= 900ms", rate, elapsed)
	}
	s := p.Stats()
	if s.ToServer.Dropped != 0 || s.ToClient.Dropped != 0 {
		t.Errorf("dropped: got %d/%d, want 0/0 with a large queue", s.ToServer.Dropped, s.ToClient.Dropped)
	}
}

func TestQueueOverflow(t *testing.T) {
	testutil.LeakCheck(t)
	srv := newServer(t, false)
	const (
		rate = 8_000_000
		size = 1200
		n    = 500 // 600 kB against a 64 KiB queue
	)
	p := newProxy(t, Config{Server: srv.addr(), RateBits: rate})
	c := dial(t, p)
	start := time.Now()
	for i := range n {
		send(t, c, seqPacket(i, size))
	}
	s := waitStats(t, p, "queue overflow", func(s Stats) bool { return s.ToServer.Overflow > 0 })
	elapsed := time.Since(start)
	t.Logf("after %s: %+v", elapsed, s.ToServer)
	if s.ToServer.Dropped != s.ToServer.Overflow {
		t.Errorf("dropped: got %d, want %d (all from overflow)", s.ToServer.Dropped, s.ToServer.Overflow)
	}
	if s.ToServer.DroppedBytes != s.ToServer.Dropped*size {
		t.Errorf("dropped bytes: got %d, want %d", s.ToServer.DroppedBytes, s.ToServer.Dropped*size)
	}
	if limit := uint64(elapsed.Seconds()*rate/8) + size; s.ToServer.Bytes > limit {
		t.Errorf("delivered after %s: got %d bytes, want <= %d at %d bit/s", elapsed, s.ToServer.Bytes, limit, rate)
	}
}

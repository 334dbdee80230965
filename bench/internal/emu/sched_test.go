//go:build linux

package emu

import (
	"testing"
	"time"
)

func TestSchedTiming(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name    string
		d       Dir
		arrive  []time.Duration // arrival offsets from t0
		size    int
		release []time.Duration // -1: dropped by the queue
	}{
		{
			name: "delay only", d: Dir{Delay: 25 * time.Millisecond},
			arrive: []time.Duration{0, 0, time.Millisecond}, size: 1000,
			release: []time.Duration{25 * time.Millisecond, 25 * time.Millisecond, 26 * time.Millisecond},
		},
		{
			// 8 Mbit/s: a 1000-byte packet takes 1 ms on the wire.
			name: "rate serialises", d: Dir{Delay: 10 * time.Millisecond, Rate: 8e6, Queue: 100000},
			arrive: []time.Duration{0, 0, 0}, size: 1000,
			release: []time.Duration{11 * time.Millisecond, 12 * time.Millisecond, 13 * time.Millisecond},
		},
		{
			name: "idle link starts over", d: Dir{Rate: 8e6, Queue: 100000},
			arrive: []time.Duration{0, 5 * time.Millisecond}, size: 1000,
			release: []time.Duration{time.Millisecond, 6 * time.Millisecond},
		},
		{
			// Queue of 2500 bytes: the backlog before each packet at t=0 is
			// 0, 1000 and 2000 bytes, so the third (2000+1000 > 2500) is
			// dropped; at 1.5 ms the backlog is back to 500.
			name: "drop tail", d: Dir{Rate: 8e6, Queue: 2500},
			arrive: []time.Duration{0, 0, 0, 1500 * time.Microsecond}, size: 1000,
			release: []time.Duration{time.Millisecond, 2 * time.Millisecond, -1, 3 * time.Millisecond},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSched(tt.d, 1)
			for i, a := range tt.arrive {
				rel, v := s.admit(t0.Add(a), tt.size)
				if tt.release[i] < 0 {
					if v != dropQueue {
						t.Fatalf("packet %d: got verdict %d, want dropQueue", i, v)
					}
					continue
				}
				if v != pass {
					t.Fatalf("packet %d: got verdict %d, want pass", i, v)
				}
				if got := rel.Sub(t0); got != tt.release[i] {
					t.Errorf("packet %d: got release %v, want %v", i, got, tt.release[i])
				}
			}
		})
	}
}

func TestSchedJitterKeepsOrder(t *testing.T) {
	s := newSched(Dir{Delay: 20 * time.Millisecond, Jitter: 10 * time.Millisecond}, 7)
	t0 := time.Unix(1000, 0)
	var last time.Time
	for i := range 10000 {
		now := t0.Add(time.Duration(i) * 100 * time.Microsecond)
		rel, v := s.admit(now, 100)
		if v != pass {
			t.Fatalf("packet %d dropped without loss or rate", i)
		}
		if d := rel.Sub(now); d < 10*time.Millisecond || d > 40*time.Millisecond {
			t.Fatalf("packet %d: delay %v outside [10ms, 40ms]", i, d)
		}
		if rel.Before(last) {
			t.Fatalf("packet %d released at %v before the previous one at %v", i, rel, last)
		}
		last = rel
	}
}

func TestSchedLoss(t *testing.T) {
	s := newSched(Dir{Loss: 0.05}, 3)
	const n = 100000
	lost := 0
	for range n {
		if _, v := s.admit(time.Unix(0, 0), 100); v == dropLoss {
			lost++
		}
	}
	// Binomial standard deviation is 69 packets; allow 5 of them.
	if lost < 5000-350 || lost > 5000+350 {
		t.Errorf("got %d of %d lost, want about 5000", lost, n)
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "200mbit", want: 200e6},
		{in: "1gbit", want: 1e9},
		{in: "1.5Mbit", want: 1.5e6},
		{in: "25mbps", want: 200e6},
		{in: "64000", want: 64000},
		{in: "0", want: 0},
		{in: "fast", bad: true},
		{in: "-1mbit", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRate(tt.in)
			if tt.bad {
				if err == nil {
					t.Fatalf("got %d, want an error", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %d, %v, want %d", got, err, tt.want)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{in: "1250000", want: 1250000},
		{in: "512k", want: 512 << 10},
		{in: "2M", want: 2 << 20},
		{in: "1MB", want: 1 << 20},
	}
	for _, tt := range tests {
		if got, err := ParseSize(tt.in); err != nil || got != tt.want {
			t.Errorf("ParseSize(%q): got %d, %v, want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestDefaultQueueIsBDP(t *testing.T) {
	d := Dir{Delay: 25 * time.Millisecond, Rate: 200e6}.populate()
	if d.Queue != 1250000 {
		t.Errorf("got queue %d, want 1250000 (200 Mbit/s x 50 ms)", d.Queue)
	}
}

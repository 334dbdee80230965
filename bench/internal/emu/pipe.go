//go:build linux

package emu

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Counters describe one direction. In counts what the source device
// handed over, Out what was written to the destination device; the drops
// say why the rest never arrived.
type Counters struct {
	InPackets     uint64 `json:"in_packets"`
	InBytes       uint64 `json:"in_bytes"`
	OutPackets    uint64 `json:"out_packets"`
	OutBytes      uint64 `json:"out_bytes"`
	DropLoss      uint64 `json:"drop_loss"`
	DropQueue     uint64 `json:"drop_queue"`
	DropBlackhole uint64 `json:"drop_blackhole"`
	DropOverflow  uint64 `json:"drop_overflow"` // the delay line itself was full
	WriteErrors   uint64 `json:"write_errors"`
	// Late counts packets written more than 10 ms after their release
	// time, MaxLateMicros the worst lateness: the forwarder itself was
	// held up (starved of CPU, or stalled), not the emulated link.
	Late          uint64 `json:"late"`
	MaxLateMicros uint64 `json:"max_late_us"`
}

// Sub returns c - o, for the traffic between two snapshots.
func (c Counters) Sub(o Counters) Counters {
	return Counters{
		InPackets: c.InPackets - o.InPackets, InBytes: c.InBytes - o.InBytes,
		OutPackets: c.OutPackets - o.OutPackets, OutBytes: c.OutBytes - o.OutBytes,
		DropLoss: c.DropLoss - o.DropLoss, DropQueue: c.DropQueue - o.DropQueue,
		DropBlackhole: c.DropBlackhole - o.DropBlackhole, DropOverflow: c.DropOverflow - o.DropOverflow,
		WriteErrors: c.WriteErrors - o.WriteErrors,
		Late:        c.Late - o.Late, MaxLateMicros: c.MaxLateMicros, // a maximum since the start
	}
}

type counters struct {
	inPackets, inBytes, outPackets, outBytes                   atomic.Uint64
	dropLoss, dropQueue, dropBlackhole, dropOverflow, writeErr atomic.Uint64
	late, maxLateMicros                                        atomic.Uint64
}

func (c *counters) snapshot() Counters {
	return Counters{
		InPackets: c.inPackets.Load(), InBytes: c.inBytes.Load(),
		OutPackets: c.outPackets.Load(), OutBytes: c.outBytes.Load(),
		DropLoss: c.dropLoss.Load(), DropQueue: c.dropQueue.Load(),
		DropBlackhole: c.dropBlackhole.Load(), DropOverflow: c.dropOverflow.Load(),
		WriteErrors: c.writeErr.Load(),
		Late:        c.late.Load(), MaxLateMicros: c.maxLateMicros.Load(),
	}
}

// delayLine bounds the packets in flight in one direction: 32768 full-size
// packets is 1.3 s at 400 Mbit/s, far beyond any queue the benchmarks set.
const delayLine = 1 << 15

// early is how far ahead of its release time a packet may be written. Go
// timers on Linux wake up to about a millisecond late; waking half a
// millisecond early centres the error on zero.
const early = 500 * time.Microsecond

// lateAfter is when a packet counts as late (Counters.Late).
const lateAfter = 10 * time.Millisecond

type packet struct {
	buf     *[]byte
	n       int
	release time.Time
}

// pipe forwards one direction: src is the device packets leave the
// sending namespace by, dst the one they enter the receiving namespace by.
type pipe struct {
	src, dst *os.File
	s        *sched
	hole     *atomic.Bool
	pool     *sync.Pool
	q        chan packet
	c        counters
}

func newPipe(src, dst *os.File, d Dir, mtu int, hole *atomic.Bool, seed uint64) *pipe {
	return &pipe{
		src: src, dst: dst, s: newSched(d, seed), hole: hole,
		pool: &sync.Pool{New: func() any { b := make([]byte, mtu); return &b }},
		q:    make(chan packet, delayLine),
	}
}

// read takes packets from src until src is closed, then closes the delay
// line so write drains it and returns.
func (p *pipe) read() error {
	defer close(p.q)
	for {
		bp := p.pool.Get().(*[]byte)
		n, err := p.src.Read(*bp)
		if err != nil {
			p.pool.Put(bp)
			if errors.Is(err, os.ErrClosed) {
				return nil
			}
			return err
		}
		now := time.Now()
		p.c.inPackets.Add(1)
		p.c.inBytes.Add(uint64(n))
		if p.hole.Load() {
			p.c.dropBlackhole.Add(1)
			p.pool.Put(bp)
			continue
		}
		release, v := p.s.admit(now, n)
		switch v {
		case dropLoss:
			p.c.dropLoss.Add(1)
			p.pool.Put(bp)
			continue
		case dropQueue:
			p.c.dropQueue.Add(1)
			p.pool.Put(bp)
			continue
		}
		select {
		case p.q <- packet{buf: bp, n: n, release: release}:
		default:
			p.c.dropOverflow.Add(1)
			p.pool.Put(bp)
		}
	}
}

// write releases packets to dst in order, each at its release time.
func (p *pipe) write() {
	for pk := range p.q {
		if d := time.Until(pk.release); d > early {
			time.Sleep(d - early)
		} else if -d > lateAfter {
			p.c.late.Add(1)
			us := uint64(-d / time.Microsecond)
			for old := p.c.maxLateMicros.Load(); us > old && !p.c.maxLateMicros.CompareAndSwap(old, us); old = p.c.maxLateMicros.Load() {
			}
		}
		if p.hole.Load() {
			p.c.dropBlackhole.Add(1)
			p.pool.Put(pk.buf)
			continue
		}
		if _, err := p.dst.Write((*pk.buf)[:pk.n]); err != nil {
			p.c.writeErr.Add(1)
		} else {
			p.c.outPackets.Add(1)
			p.c.outBytes.Add(uint64(pk.n))
		}
		p.pool.Put(pk.buf)
	}
}

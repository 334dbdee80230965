package udpproxy

import (
	"container/heap"
	"math/rand/v2"
	"sync"
	"time"
)

// maxPooledBuf is the largest packet buffer returned to the pool. QUIC
// packets are at most ~1500 bytes; anything larger is allocated and left to
// the garbage collector so the pool does not pin big buffers.
const maxPooledBuf = 4096

// packet is one datagram waiting in a link. Packets are pooled; buf is
// reused between them.
type packet struct {
	due  time.Time // when the scheduler releases the packet
	seq  uint64    // arrival order, breaks ties between equal due times
	peer *peer     // the client mapping the packet belongs to
	buf  []byte
}

var packetPool = sync.Pool{New: func() any { return &packet{buf: make([]byte, 0, 2048)} }}

func newPacket(p *peer, b []byte) *packet {
	pk := packetPool.Get().(*packet)
	pk.peer = p
	pk.buf = append(pk.buf[:0], b...)
	return pk
}

func (pk *packet) release() {
	pk.peer = nil
	if cap(pk.buf) > maxPooledBuf {
		pk.buf = make([]byte, 0, 2048)
	}
	packetPool.Put(pk)
}

// packetHeap orders packets by due time, then by arrival.
type packetHeap []*packet

func (h packetHeap) Len() int { return len(h) }
func (h packetHeap) Less(i, j int) bool {
	if h[i].due.Equal(h[j].due) {
		return h[i].seq < h[j].seq
	}
	return h[i].due.Before(h[j].due)
}
func (h packetHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *packetHeap) Push(x any)   { *h = append(*h, x.(*packet)) }
func (h *packetHeap) Pop() any {
	old := *h
	n := len(old)
	pk := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return pk
}

// A link is one direction of the emulated path: random loss, a bottleneck
// of RateBits with a drop-tail queue, then a propagation delay with
// optional jitter. A single scheduler goroutine (run) releases packets at
// their due time through send.
//
// The bottleneck is modelled rather than simulated: busyUntil is the time
// the last accepted packet finishes serialising, so the bytes still queued
// at time now are (busyUntil-now)*rate. A packet that would push that
// backlog over queueLimit is dropped (drop-tail).
type link struct {
	dir        Direction
	rate       int64 // bits per second, 0 = unlimited
	queueLimit int   // bytes, only used when rate > 0
	jitter     time.Duration
	reorder    bool
	send       func(pk *packet) bool // writes the packet; false if the write failed

	wake chan struct{} // capacity 1; poked when the head of queue changes

	// mu guards the following fields.
	mu        sync.Mutex
	delay     time.Duration
	loss      float64
	rng       *rand.Rand
	queue     packetHeap
	seq       uint64
	busyUntil time.Time // end of serialisation of the last accepted packet
	lastDue   time.Time // due time of the last accepted packet, keeps order
	stats     DirStats
}

func newLink(dir Direction, cfg *Config, seed uint64, send func(*packet) bool) *link {
	return &link{
		dir:        dir,
		rate:       cfg.RateBits,
		queueLimit: cfg.QueueBytes,
		jitter:     cfg.Jitter,
		reorder:    cfg.Reorder,
		send:       send,
		wake:       make(chan struct{}, 1),
		delay:      cfg.Delay,
		loss:       cfg.Loss,
		rng:        rand.New(rand.NewPCG(seed, uint64(dir)+1)),
	}
}

// drop counts a packet the link refused before queueing it.
func (l *link) drop(n int) {
	l.mu.Lock()
	l.stats.Dropped++
	l.stats.DroppedBytes += uint64(n)
	l.mu.Unlock()
}

// submit decides the fate of a packet that arrived at now: dropped by
// random loss or queue overflow, or queued for release at its due time.
// It takes ownership of pk.
func (l *link) submit(pk *packet, now time.Time) {
	n := len(pk.buf)
	l.mu.Lock()
	if l.loss > 0 && l.rng.Float64() < l.loss {
		l.stats.Dropped++
		l.stats.DroppedBytes += uint64(n)
		l.mu.Unlock()
		pk.release()
		return
	}
	depart := now
	if l.rate > 0 {
		if l.busyUntil.After(now) {
			backlog := float64(l.busyUntil.Sub(now)) * float64(l.rate) / 8e9
			if backlog+float64(n) > float64(l.queueLimit) {
				l.stats.Dropped++
				l.stats.DroppedBytes += uint64(n)
				l.stats.Overflow++
				l.mu.Unlock()
				pk.release()
				return
			}
			depart = l.busyUntil
		}
		depart = depart.Add(time.Duration(int64(n) * 8 * int64(time.Second) / l.rate))
		l.busyUntil = depart
	}
	due := depart.Add(l.delay)
	if l.jitter > 0 {
		due = due.Add(time.Duration(l.rng.Int64N(int64(l.jitter))))
	}
	if !l.reorder {
		if due.Before(l.lastDue) {
			due = l.lastDue
		}
		l.lastDue = due
	}
	pk.due = due
	pk.seq = l.seq
	l.seq++
	heap.Push(&l.queue, pk)
	isHead := l.queue[0] == pk
	l.mu.Unlock()
	if isHead {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

// run releases packets at their due time until done is closed. It keeps one
// timer armed for the head of the queue.
func (l *link) run(done <-chan struct{}) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var batch []*packet
	for {
		l.mu.Lock()
		now := time.Now()
		for len(l.queue) > 0 && !l.queue[0].due.After(now) {
			batch = append(batch, heap.Pop(&l.queue).(*packet))
		}
		wait := time.Duration(-1)
		if len(l.queue) > 0 {
			wait = l.queue[0].due.Sub(now)
		}
		l.mu.Unlock()

		if len(batch) > 0 {
			var sent, sentBytes, failed, failedBytes uint64
			for i, pk := range batch {
				if l.send(pk) {
					sent++
					sentBytes += uint64(len(pk.buf))
				} else {
					failed++
					failedBytes += uint64(len(pk.buf))
				}
				pk.release()
				batch[i] = nil
			}
			batch = batch[:0]
			l.mu.Lock()
			l.stats.Packets += sent
			l.stats.Bytes += sentBytes
			l.stats.Dropped += failed
			l.stats.DroppedBytes += failedBytes
			l.mu.Unlock()
			// Sending took time; look at the queue again before sleeping.
			select {
			case <-done:
				return
			default:
				continue
			}
		}

		if wait >= 0 {
			timer.Reset(wait)
		}
		select {
		case <-done:
			return
		case <-l.wake:
			timer.Stop()
		case <-timer.C:
		}
	}
}

func (l *link) setDelay(d time.Duration) {
	l.mu.Lock()
	l.delay = d
	l.mu.Unlock()
}

func (l *link) setLoss(p float64) {
	l.mu.Lock()
	l.loss = p
	l.mu.Unlock()
}

func (l *link) snapshot() DirStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats
}

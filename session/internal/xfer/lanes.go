package xfer

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/quic-go/quic-go"
)

// StreamConn is a connection that can carry data streams: quic-go's
// *quic.Conn on the server, *quicx.Conn on the client.
type StreamConn interface {
	OpenUniStreamSync(ctx context.Context) (*quic.SendStream, error)
	Context() context.Context
	ConnectionStats() quic.ConnectionStats
}

// Member is one connection of a session's pool.
type Member struct {
	Conn    StreamConn
	Primary bool   // carries the command channel
	Close   func() // ends the connection; nil for the primary

	// The Lanes' mu guards the following fields.
	busy     int  // range streams being written on it
	unacked  int  // ranges written on it whose ack has not come
	draining bool // takes no new ranges; closed once idle and acked
}

// Dead reports whether m's connection has ended.
func (m *Member) Dead() bool { return m.Conn.Context().Err() != nil }

// Lanes schedules the range streams of every transfer over the
// connections of a pool: a new range goes to the least busy live
// connection, each connection writes at most LanesPerConn range streams at
// once (one while it is the only one: a session on one connection then
// sends its ranges in order, as a single stream would, and both ends hash
// them as they pass), and the transfers waiting for a lane take turns, so
// a big file cannot hold back the small ones queued behind it.
type Lanes struct {
	perConn int
	// growable says the pool may grow during a transfer (an Auto pool):
	// files are then cut into pool-sized ranges even while it has one
	// connection; see Growable.
	growable atomic.Bool

	// mu guards the following fields.
	mu      sync.Mutex
	members []*Member
	changed chan struct{} // closed and replaced when a Member comes, goes or dies
	queue   []laneWaiter  // transfers waiting for a lane, in turn order
}

// laneWaiter is a transfer waiting for a lane: it gets one on grant.
type laneWaiter struct {
	key   any
	grant chan<- *Member
}

// LanesPerConn is how many range streams one connection of a pool of
// several writes at once: two, so a connection never idles between the
// end of one range and the start of the next.
const LanesPerConn = 2

// SoloLanes is how many range streams the only connection of a pool
// writes at once: as many files as a batch moves in parallel and more, so
// small files do not wait on each other's packing (quic-go's Write
// returns once its data is packed), while each file, alone on the
// connection, still sends its ranges one after the other (Solo).
const SoloLanes = 32

// NewLanes returns an empty pool; Add puts its connections in.
func NewLanes() *Lanes {
	return &Lanes{perConn: LanesPerConn, changed: make(chan struct{})}
}

func (l *Lanes) signalLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// Wait returns a channel closed when a connection next comes, goes or
// dies.
func (l *Lanes) Wait() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// Add puts m in the pool; its death wakes the schedulers.
func (l *Lanes) Add(m *Member) {
	l.mu.Lock()
	l.members = append(l.members, m)
	l.signalLocked()
	l.dispatchLocked()
	l.mu.Unlock()
	context.AfterFunc(m.Conn.Context(), func() {
		l.mu.Lock()
		l.signalLocked()
		l.dispatchLocked() // the pool of one may now allow more
		l.mu.Unlock()
	})
}

// Remove takes m out of the pool.
func (l *Lanes) Remove(m *Member) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, x := range l.members {
		if x == m {
			l.members = append(l.members[:i], l.members[i+1:]...)
			break
		}
	}
	l.signalLocked()
}

// Request queues the transfer named by key for one lane: the least busy
// live connection's, sent on grant (which must have room for it) as soon
// as one is free and the transfers queued before it have had theirs. A
// transfer asks for one lane at a time and is served in turn, so a big
// file cannot hold back the small ones queued behind it; one that stops
// asking calls Leave. Each connection writes at most LanesPerConn range
// streams at once, or SoloLanes while it is the pool's only connection.
func (l *Lanes) Request(key any, grant chan<- *Member) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !slices.ContainsFunc(l.queue, func(w laneWaiter) bool { return w.key == key }) {
		l.queue = append(l.queue, laneWaiter{key, grant})
	}
	l.dispatchLocked()
}

// dispatchLocked grants free lanes to the transfers at the head of the
// queue.
func (l *Lanes) dispatchLocked() {
	for len(l.queue) > 0 {
		m := l.freeLocked()
		if m == nil {
			return
		}
		m.busy++
		l.queue[0].grant <- m
		l.queue = l.queue[1:]
	}
}

// freeLocked returns the least busy live connection with a free lane.
func (l *Lanes) freeLocked() *Member {
	limit := l.perConn
	if l.liveLocked(false) <= 1 {
		limit = SoloLanes
	}
	var best *Member
	for _, m := range l.members {
		if m.draining || m.busy >= limit || m.Dead() {
			continue
		}
		if best == nil || m.busy < best.busy {
			best = m
		}
	}
	return best
}

// Solo reports whether the pool has at most one live connection: a
// transfer then sends one range at a time, in order, as a single stream
// would, so both ends hash its bytes as they pass instead of reading them
// back.
func (l *Lanes) Solo() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.liveLocked(false) <= 1
}

// SetGrowable marks the pool as one that may grow while a file is being
// sent (PoolConfig.Auto on the client, or a client that said so on the
// server). A file that starts while the pool has one connection is then
// cut into the ranges of a pool (rangeSize) rather than 16 MiB ones:
// otherwise a 48 MiB file would be 3 ranges, and the connections that
// join a second later would find nothing left to carry.
func (l *Lanes) SetGrowable() { l.growable.Store(true) }

// Growable reports whether SetGrowable was called.
func (l *Lanes) Growable() bool { return l.growable.Load() }

// Active counts the live connections that take new ranges (not
// draining), the primary included.
func (l *Lanes) Active() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.liveLocked(true)
}

// liveLocked counts the live connections, without the draining ones when
// active is set.
func (l *Lanes) liveLocked(active bool) int {
	n := 0
	for _, m := range l.members {
		if !m.Dead() && !(active && m.draining) {
			n++
		}
	}
	return n
}

// Leave takes key out of the queue for lanes.
func (l *Lanes) Leave(key any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.queue = slices.DeleteFunc(l.queue, func(w laneWaiter) bool { return w.key == key })
}

// Release gives back a lane granted by Request. A draining Member whose
// last lane comes back is closed.
func (l *Lanes) Release(m *Member) {
	l.mu.Lock()
	m.busy--
	closeIt := m.idleLocked()
	l.dispatchLocked()
	l.mu.Unlock()
	if closeIt {
		m.Close()
	}
}

// idleLocked reports whether a draining Member can be closed: nothing is
// being written on it, and everything written has been acked (closing
// earlier would throw away ranges still in flight).
func (m *Member) idleLocked() bool {
	return m.draining && m.busy == 0 && m.unacked == 0 && m.Close != nil
}

// Hold counts a range written on m and not yet acked.
func (l *Lanes) Hold(m *Member) {
	l.mu.Lock()
	m.unacked++
	l.mu.Unlock()
}

// Unhold ends what Hold counted (the ack came, or the range moved).
func (l *Lanes) Unhold(m *Member) {
	l.mu.Lock()
	m.unacked--
	closeIt := m.idleLocked()
	l.mu.Unlock()
	if closeIt {
		m.Close()
	}
}

// Live returns the members whose connections are up, primary first.
func (l *Lanes) Live() []*Member {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*Member
	for _, m := range l.members {
		if !m.Dead() {
			out = append(out, m)
		}
	}
	return out
}

// Drain stops giving ranges to m and closes it once its lanes are idle.
func (l *Lanes) Drain(m *Member) {
	l.mu.Lock()
	m.draining = true
	closeIt := m.idleLocked()
	l.signalLocked()
	l.mu.Unlock()
	if closeIt {
		m.Close()
	}
}

// Draining reports whether m takes no new ranges.
func (l *Lanes) Draining(m *Member) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return m.draining
}

// Busy returns the number of lanes taken on all connections: range streams
// being written.
func (l *Lanes) Busy() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.members {
		n += m.busy
	}
	return n
}

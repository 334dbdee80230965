package session

import (
	"context"
	"sync"

	"github.com/quic-go/quic-go"
)

// streamConn is a connection that can carry data streams: quic-go's
// *quic.Conn on the server, *quicx.Conn on the client.
type streamConn interface {
	OpenUniStreamSync(ctx context.Context) (*quic.SendStream, error)
	Context() context.Context
	ConnectionStats() quic.ConnectionStats
}

// member is one connection of a session's pool.
type member struct {
	conn     streamConn
	primary  bool   // carries the command channel
	close    func() // ends the connection; nil for the primary
	busy     int    // range streams being written on it
	unacked  int    // ranges written on it whose ack has not come
	draining bool   // takes no new ranges; closed once idle and acked
}

func (m *member) dead() bool { return m.conn.Context().Err() != nil }

// lanes schedules the range streams of striped transfers over the
// connections of a pool: each connection carries at most perConn range
// streams being written at once, and a new range goes to the least busy
// live connection.
type lanes struct {
	perConn int

	// mu guards the following fields.
	mu      sync.Mutex
	members []*member
	changed chan struct{} // closed and replaced when a lane frees up or a member comes or goes
}

// lanesPerConn is how many range streams one connection writes at once:
// two, so a connection never idles between the end of one range and the
// start of the next.
const lanesPerConn = 2

func newLanes() *lanes {
	return &lanes{perConn: lanesPerConn, changed: make(chan struct{})}
}

func (l *lanes) signalLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// wait returns a channel closed at the next change.
func (l *lanes) wait() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// add puts m in the pool; its death wakes the schedulers.
func (l *lanes) add(m *member) {
	l.mu.Lock()
	l.members = append(l.members, m)
	l.signalLocked()
	l.mu.Unlock()
	context.AfterFunc(m.conn.Context(), func() {
		l.mu.Lock()
		l.signalLocked()
		l.mu.Unlock()
	})
}

// remove takes m out of the pool.
func (l *lanes) remove(m *member) {
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

// tryAcquire takes a lane on the least busy live connection, or returns
// nil when every lane is taken.
func (l *lanes) tryAcquire() *member {
	l.mu.Lock()
	defer l.mu.Unlock()
	var best *member
	for _, m := range l.members {
		if m.draining || m.busy >= l.perConn || m.dead() {
			continue
		}
		if best == nil || m.busy < best.busy {
			best = m
		}
	}
	if best != nil {
		best.busy++
	}
	return best
}

// release gives back a lane taken by tryAcquire. A draining member whose
// last lane comes back is closed.
func (l *lanes) release(m *member) {
	l.mu.Lock()
	m.busy--
	closeIt := m.idleLocked()
	l.signalLocked()
	l.mu.Unlock()
	if closeIt {
		m.close()
	}
}

// idleLocked reports whether a draining member can be closed: nothing is
// being written on it, and everything written has been acked (closing
// earlier would throw away ranges still in flight).
func (m *member) idleLocked() bool {
	return m.draining && m.busy == 0 && m.unacked == 0 && m.close != nil
}

// hold counts a range written on m and not yet acked.
func (l *lanes) hold(m *member) {
	l.mu.Lock()
	m.unacked++
	l.mu.Unlock()
}

// unhold ends what hold counted (the ack came, or the range moved).
func (l *lanes) unhold(m *member) {
	l.mu.Lock()
	m.unacked--
	closeIt := m.idleLocked()
	l.mu.Unlock()
	if closeIt {
		m.close()
	}
}

// live returns the members whose connections are up, primary first.
func (l *lanes) live() []*member {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*member
	for _, m := range l.members {
		if !m.dead() {
			out = append(out, m)
		}
	}
	return out
}

// drain stops giving ranges to m and closes it once its lanes are idle.
func (l *lanes) drain(m *member) {
	l.mu.Lock()
	m.draining = true
	closeIt := m.idleLocked()
	l.signalLocked()
	l.mu.Unlock()
	if closeIt {
		m.close()
	}
}

package session

import (
	"time"

	"github.com/quic-go/quic-go"
)

// SessionStats are a session's connection figures. Counters are summed
// over every connection the session has had: the current one and those
// replaced when it reconnected. They are the client's view: packets sent
// and lost are the client's own packets.
type SessionStats struct {
	// SmoothedRTT and MinRTT are the current connection's estimates.
	SmoothedRTT time.Duration
	MinRTT      time.Duration

	PacketsSent     uint64
	PacketsReceived uint64
	// PacketsLost counts packets declared lost (some of which may have
	// arrived after all).
	PacketsLost   uint64
	BytesSent     uint64
	BytesReceived uint64
	BytesLost     uint64

	// Migrations counts moves of a live connection to a new path.
	Migrations int
	// Reconnects counts the connections dialled after the first.
	Reconnects int
	// Connections is the largest number of connections the session has
	// striped over at once (1 without a pool).
	Connections int
}

// add sums the counters of c's connections into st.
func (st *SessionStats) add(c *clientConn) {
	var cs quic.ConnectionStats
	c.addPoolStats(&cs)
	st.Connections = max(st.Connections, c.PeakPoolSize())
	st.PacketsSent, st.PacketsReceived, st.PacketsLost = st.PacketsSent+cs.PacketsSent, st.PacketsReceived+cs.PacketsReceived, st.PacketsLost+cs.PacketsLost
	st.BytesSent, st.BytesReceived, st.BytesLost = st.BytesSent+cs.BytesSent, st.BytesReceived+cs.BytesReceived, st.BytesLost+cs.BytesLost
	st.Migrations += c.Migrations()
}

// Stats returns the session's connection figures. It waits for a
// reconnect in progress to end.
func (s *Session) Stats() SessionStats {
	s.mu.Lock()
	c, st := s.c, s.retired
	st.Reconnects = s.reconnects
	s.mu.Unlock()
	st.add(c)
	cs := c.Stats()
	st.SmoothedRTT, st.MinRTT = cs.SmoothedRTT, cs.MinRTT
	return st
}

// retire adds the counters of a client being replaced to the session's
// totals; s.mu must be held.
func (s *Session) retire(c *clientConn) { s.retired.add(c) }

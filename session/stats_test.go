package session

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/qxfer/qxfer/certs"
)

// TestSessionStats checks that a session's figures cover the connections
// it replaced: after a reconnect the packet counters include the first
// connection's, and Reconnects counts it.
func TestSessionStats(t *testing.T) {
	ts := startServer(t, ServerConfig{}, nil)
	id, err := certs.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	dial := func(ctx context.Context, table *Table) (*Client, error) {
		return Dial(ctx, ts.addr, ClientConfig{Identity: id, Fingerprint: ts.id.Fingerprint, Table: table, Logger: testLogger(t)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := NewSession(ctx, dial, SessionConfig{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	src := t.TempDir()
	writeRandom(t, filepath.Join(src, "a"), 1<<20)
	writeRandom(t, filepath.Join(src, "b"), 1<<20)
	push := func(name string) {
		t.Helper()
		rep, err := s.Push(ctx, []string{filepath.Join(src, name)}, "up", Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := rep.Err(); err != nil {
			t.Fatal(err)
		}
	}

	push("a")
	first := s.Stats()
	if first.PacketsSent < 1<<20/1500 {
		t.Errorf("after 1 MiB: got %d packets sent, want at least %d", first.PacketsSent, 1<<20/1500)
	}
	if first.SmoothedRTT <= 0 {
		t.Errorf("got smoothed RTT %v, want > 0", first.SmoothedRTT)
	}
	if first.Reconnects != 0 {
		t.Errorf("got %d reconnects, want 0", first.Reconnects)
	}

	old := s.Client()
	old.Close() // the next request reconnects
	push("b")
	if s.Client() == old {
		t.Fatal("the session did not reconnect")
	}
	second := s.Stats()
	cur := s.Client().Stats()
	if second.Reconnects != 1 {
		t.Errorf("got %d reconnects, want 1", second.Reconnects)
	}
	if second.PacketsSent < first.PacketsSent+cur.PacketsSent {
		t.Errorf("got %d packets sent, want at least %d (first connection) + %d (current)", second.PacketsSent, first.PacketsSent, cur.PacketsSent)
	}
	if second.BytesSent < 2<<20 {
		t.Errorf("got %d bytes sent over both connections, want at least %d", second.BytesSent, 2<<20)
	}
}

package udpproxy

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/testutil"
)

// datagram is what the test server received.
type datagram struct {
	from netip.AddrPort
	data []byte
}

// udpServer is a plain UDP server on loopback that reports every datagram
// on recv and optionally echoes it.
type udpServer struct {
	conn *net.UDPConn
	recv chan datagram
	done chan struct{}
	wg   sync.WaitGroup
}

func newServer(t *testing.T, echo bool) *udpServer {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadBuffer(4 << 20)
	s := &udpServer{conn: conn, recv: make(chan datagram, 1<<14), done: make(chan struct{})}
	s.wg.Go(func() {
		buf := make([]byte, 64<<10)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if echo {
				conn.WriteToUDPAddrPort(buf[:n], from)
			}
			select {
			case s.recv <- datagram{from: from, data: slices.Clone(buf[:n])}:
			case <-s.done:
				return
			}
		}
	})
	t.Cleanup(func() {
		close(s.done)
		conn.Close()
		s.wg.Wait()
	})
	return s
}

func (s *udpServer) addr() *net.UDPAddr { return s.conn.LocalAddr().(*net.UDPAddr) }

// next returns the next datagram the server received.
func (s *udpServer) next(t *testing.T) datagram {
	t.Helper()
	select {
	case d := <-s.recv:
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("server: no datagram within 5s")
		return datagram{}
	}
}

// empty fails the test if the server has received anything not yet taken.
func (s *udpServer) empty(t *testing.T) {
	t.Helper()
	select {
	case d := <-s.recv:
		t.Fatalf("server received %q, want nothing", d.data)
	default:
	}
}

func newProxy(t *testing.T, cfg Config) *Proxy {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

func dial(t *testing.T, p *Proxy) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", nil, p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func send(t *testing.T, c *net.UDPConn, b []byte) {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

func recv(t *testing.T, c *net.UDPConn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64<<10)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("client read: %v", err)
	}
	return buf[:n]
}

// echoed sends msg from c through the proxy to the echoing srv and fails
// the test unless msg is the next datagram the server gets and the next
// the client gets back; it returns what the server got.
func echoed(t *testing.T, c *net.UDPConn, srv *udpServer, msg string) datagram {
	t.Helper()
	send(t, c, []byte(msg))
	d := srv.next(t)
	if string(d.data) != msg {
		t.Fatalf("server got %q, want %q", d.data, msg)
	}
	if got := recv(t, c); string(got) != msg {
		t.Fatalf("client got %q, want %q", got, msg)
	}
	return d
}

// waitStats polls the proxy counters until cond holds.
func waitStats(t *testing.T, p *Proxy, what string, cond func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := p.Stats()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: stats %+v", what, s)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestNewConfig(t *testing.T) {
	testutil.LeakCheck(t)
	srv := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "zero value with server", cfg: Config{Server: srv}},
		{name: "unspecified server", cfg: Config{Server: &net.UDPAddr{IP: net.IPv6unspecified, Port: 9}}},
		{name: "ipv6 loopback", cfg: Config{Server: &net.UDPAddr{IP: net.IPv6loopback, Port: 9}, ListenAddr: "[::1]:0"}},
		{name: "no server", cfg: Config{}, wantErr: "server address required"},
		{name: "server not loopback", cfg: Config{Server: &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 9}}, wantErr: "not on loopback"},
		{name: "listen not loopback", cfg: Config{Server: srv, ListenAddr: "0.0.0.0:0"}, wantErr: "not on loopback"},
		{name: "bad listen address", cfg: Config{Server: srv, ListenAddr: "nonsense"}, wantErr: "listen address"},
		{name: "negative delay", cfg: Config{Server: srv, Delay: -1}, wantErr: "negative delay"},
		{name: "negative jitter", cfg: Config{Server: srv, Jitter: -1}, wantErr: "negative jitter"},
		{name: "loss above one", cfg: Config{Server: srv, Loss: 1.5}, wantErr: "loss"},
		{name: "negative loss", cfg: Config{Server: srv, Loss: -0.1}, wantErr: "loss"},
		{name: "negative rate", cfg: Config{Server: srv, RateBits: -1}, wantErr: "negative rate"},
		{name: "negative queue", cfg: Config{Server: srv, QueueBytes: -1}, wantErr: "negative queue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: got error %v, want nil", err)
				}
				if err := p.Close(); err != nil {
					t.Errorf("Close: got %v, want nil", err)
				}
				return
			}
			if err == nil {
				p.Close()
				t.Fatalf("New: got nil error, want one containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("New: got error %q, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestDefaultQueueBytes(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want int
	}{
		{name: "no rate", cfg: Config{}, want: 0},
		{name: "small bdp", cfg: Config{RateBits: 8_000_000, Delay: 10 * time.Millisecond}, want: 64 << 10},
		{name: "large bdp", cfg: Config{RateBits: 100_000_000, Delay: 50 * time.Millisecond}, want: 1_250_000},
		{name: "explicit", cfg: Config{RateBits: 100_000_000, QueueBytes: 1000}, want: 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Server = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}
			if _, err := tt.cfg.populate(); err != nil {
				t.Fatal(err)
			}
			if tt.cfg.QueueBytes != tt.want {
				t.Errorf("QueueBytes: got %d, want %d", tt.cfg.QueueBytes, tt.want)
			}
		})
	}
}

func TestDirectionString(t *testing.T) {
	tests := []struct {
		name string
		d    Direction
		want string
	}{
		{name: "to server", d: ToServer, want: "ToServer"},
		{name: "to client", d: ToClient, want: "ToClient"},
		{name: "unknown", d: 7, want: "Direction(7)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.d.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestForwarding(t *testing.T) {
	testutil.LeakCheck(t)
	srv := newServer(t, true)
	p := newProxy(t, Config{Server: srv.addr()})
	c := dial(t, p)
	const n = 20
	var total uint64
	for i := range n {
		msg := fmt.Appendf(nil, "ping %d", i)
		total += uint64(len(msg))
		send(t, c, msg)
		d := srv.next(t)
		if !bytes.Equal(d.data, msg) {
			t.Fatalf("server got %q, want %q", d.data, msg)
		}
		if d.from.Port() == uint16(c.LocalAddr().(*net.UDPAddr).Port) || d.from.Port() == uint16(p.Addr().Port) {
			t.Fatalf("server saw source %s, want a proxy upstream port", d.from)
		}
		if got := recv(t, c); !bytes.Equal(got, msg) {
			t.Fatalf("client got %q, want %q", got, msg)
		}
	}
	// The proxy counts a packet after it has sent it on, so the last
	// one may be counted only after its echo has come back.
	want := DirStats{Packets: n, Bytes: total}
	waitStats(t, p, fmt.Sprintf("both directions at %+v", want), func(s Stats) bool { return s.ToServer == want && s.ToClient == want })
}

func TestMultipleClients(t *testing.T) {
	testutil.LeakCheck(t)
	srv := newServer(t, true)
	p := newProxy(t, Config{Server: srv.addr()})
	clients := []*net.UDPConn{dial(t, p), dial(t, p), dial(t, p)}
	ports := map[uint16]int{}
	for round := range 2 {
		for i, c := range clients {
			msg := fmt.Appendf(nil, "client %d round %d", i, round)
			send(t, c, msg)
			d := srv.next(t)
			if !bytes.Equal(d.data, msg) {
				t.Fatalf("server got %q, want %q", d.data, msg)
			}
			if round == 0 {
				if j, ok := ports[d.from.Port()]; ok {
					t.Fatalf("client %d and %d share upstream port %d", i, j, d.from.Port())
				}
				ports[d.from.Port()] = i
			} else if got := ports[d.from.Port()]; got != i {
				t.Fatalf("round 1: port %d belongs to client %d, want %d", d.from.Port(), got, i)
			}
			if got := recv(t, c); !bytes.Equal(got, msg) {
				t.Fatalf("client %d got %q, want %q", i, got, msg)
			}
		}
	}
	if len(ports) != len(clients) {
		t.Errorf("distinct upstream ports: got %d, want %d", len(ports), len(clients))
	}
}

func TestDropHook(t *testing.T) {
	testutil.LeakCheck(t)
	srv := newServer(t, true)
	var mu sync.Mutex
	var seen []string
	p := newProxy(t, Config{Server: srv.addr(), Drop: func(dir Direction, b []byte) bool {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, fmt.Sprintf("%s %s", dir, b))
		return dir == ToServer && b[0] == 'x'
	}})
	c := dial(t, p)
	send(t, c, []byte("xdrop"))
	echoed(t, c, srv, "keep")
	s := p.Stats()
	if s.ToServer.Dropped != 1 || s.ToServer.DroppedBytes != 5 {
		t.Errorf("to-server dropped: got %d (%d bytes), want 1 (5 bytes)", s.ToServer.Dropped, s.ToServer.DroppedBytes)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"ToServer xdrop", "ToServer keep", "ToClient keep"}
	if !slices.Equal(seen, want) {
		t.Errorf("hook calls: got %q, want %q", seen, want)
	}
}

func TestBlackhole(t *testing.T) {
	testutil.LeakCheck(t)
	srv := newServer(t, true)
	var hooked atomic.Int64
	p := newProxy(t, Config{Server: srv.addr(), Drop: func(Direction, []byte) bool { hooked.Add(1); return false }})
	c := dial(t, p)

	// Establish the mapping, then cut the link.
	echoed(t, c, srv, "before")

	p.SetBlackhole(true)
	for i := range 10 {
		send(t, c, fmt.Appendf(nil, "hole %d", i))
	}
	waitStats(t, p, "blackholed packets", func(s Stats) bool { return s.ToServer.Dropped == 10 })
	// The server's packets toward the client vanish too.
	if _, err := srv.conn.WriteToUDPAddrPort([]byte("from server"), srv.peerOf(t, p)); err != nil {
		t.Fatal(err)
	}
	waitStats(t, p, "blackholed reply", func(s Stats) bool { return s.ToClient.Dropped == 1 })

	p.SetBlackhole(false)
	echoed(t, c, srv, "after") // nothing from the blackhole comes first
	if got := hooked.Load(); got != 4 {
		t.Errorf("Drop hook calls: got %d, want 4 (blackholed packets skip it)", got)
	}
}

// peerOf returns the upstream address of the single client of p.
func (s *udpServer) peerOf(t *testing.T, p *Proxy) netip.AddrPort {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.peers) != 1 {
		t.Fatalf("peers: got %d, want 1", len(p.peers))
	}
	for _, pe := range p.peers {
		return pe.upstream().LocalAddr().(*net.UDPAddr).AddrPort()
	}
	return netip.AddrPort{}
}

func TestRebind(t *testing.T) {
	testutil.LeakCheck(t)
	srv := newServer(t, true)
	p := newProxy(t, Config{Server: srv.addr()})
	c1, c2 := dial(t, p), dial(t, p)

	old := map[*net.UDPConn]netip.AddrPort{}
	for _, c := range []*net.UDPConn{c1, c2} {
		old[c] = echoed(t, c, srv, "hello").from
	}

	if err := p.Rebind(); err != nil {
		t.Fatal(err)
	}
	if got := p.Stats().Rebinds; got != 1 {
		t.Errorf("Rebinds: got %d, want 1", got)
	}

	// The server answers at c1's old address first: that must be dropped.
	if _, err := srv.conn.WriteToUDPAddrPort([]byte("stale"), old[c1]); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*net.UDPConn{c1, c2} {
		send(t, c, []byte("again"))
		d := srv.next(t)
		if d.from == old[c] {
			t.Errorf("server saw %s after Rebind, want a new port", d.from)
		}
		for _, o := range old {
			if d.from == o {
				t.Errorf("server saw %s after Rebind, an old upstream address", d.from)
			}
		}
		if got := recv(t, c); string(got) != "again" {
			t.Errorf("client got %q, want %q", got, "again")
		}
	}

	if err := p.Rebind(); err != nil {
		t.Fatal(err)
	}
	echoed(t, c1, srv, "third")
	if got := p.Stats().Rebinds; got != 2 {
		t.Errorf("Rebinds: got %d, want 2", got)
	}
}

func TestClose(t *testing.T) {
	testutil.LeakCheck(t)
	srv := newServer(t, true)
	arrived := make(chan struct{}, 64)
	p, err := New(Config{Server: srv.addr(), Delay: 5 * time.Second, Drop: func(Direction, []byte) bool {
		arrived <- struct{}{}
		return false
	}})
	if err != nil {
		t.Fatal(err)
	}
	// Three clients, each with a packet waiting out the delay.
	for i := range 3 {
		send(t, dial(t, p), fmt.Appendf(nil, "queued %d", i))
		<-arrived
	}
	start := time.Now()
	if err := p.Close(); err != nil {
		t.Fatalf("Close: got %v, want nil", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %s, want it not to wait for queued packets", d)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: got %v, want nil", err)
	}
	if err := p.Rebind(); !errors.Is(err, ErrClosed) {
		t.Errorf("Rebind after Close: got %v, want %v", err, ErrClosed)
	}
	srv.empty(t)
}

func TestConcurrentClose(t *testing.T) {
	testutil.LeakCheck(t)
	srv := newServer(t, true)
	p, err := New(Config{Server: srv.addr()})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, p)
	send(t, c, []byte("x"))
	recv(t, c)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if err := p.Close(); err != nil {
				t.Errorf("Close: got %v, want nil", err)
			}
		})
	}
	wg.Go(func() { p.Rebind() })
	wg.Wait()
}

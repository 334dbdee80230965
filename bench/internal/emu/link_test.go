//go:build linux

package emu

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/qxfer/qxfer/bench/internal/netns"
)

// needRoot skips tests that create namespaces and TUN devices.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, TUN devices)")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("needs /dev/net/tun")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (iproute2)")
	}
}

func upLink(t *testing.T, cfg Config) *Link {
	t.Helper()
	l, err := Up(cfg)
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		for _, ns := range []string{l.NSA, l.NSB} {
			if _, err := os.Stat("/run/netns/" + ns); err == nil {
				t.Errorf("namespace %s still exists after Close", ns)
			}
		}
	})
	return l
}

// udpIn opens a UDP socket inside ns, bound to addr.
func udpIn(t *testing.T, ns, addr string) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := netns.Do(ns, func() error {
		var err error
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(mustAddrPort(addr)))
		return err
	})
	if err != nil {
		t.Fatalf("udp socket in %s: %v", ns, err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadBuffer(4 << 20)
	return c
}

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// echo answers every datagram on c until c is closed.
func echo(c *net.UDPConn) {
	buf := make([]byte, 2048)
	for {
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			return
		}
		c.WriteToUDP(buf[:n], from)
	}
}

// count reads datagrams until none arrives for quiet.
func count(c *net.UDPConn, quiet time.Duration) int {
	buf := make([]byte, 2048)
	n := 0
	for {
		c.SetReadDeadline(time.Now().Add(quiet))
		if _, _, err := c.ReadFromUDP(buf); err != nil {
			return n
		}
		n++
	}
}

// settled returns the link's counters once done accepts them, or after a
// second.
func settled(l *Link, done func(Stats) bool) Stats {
	deadline := time.Now().Add(time.Second)
	for {
		s := l.Stats()
		if done(s) || time.Now().After(deadline) {
			return s
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLinkRTT(t *testing.T) {
	needRoot(t)
	d := Dir{Delay: 10 * time.Millisecond}
	l := upLink(t, Config{AB: d, BA: d})
	srv := udpIn(t, l.NSB, AddrB+":9000")
	go echo(srv)
	cli := udpIn(t, l.NSA, AddrA+":0")
	to := net.UDPAddrFromAddrPort(mustAddrPort(AddrB + ":9000"))
	var rtts []time.Duration
	buf := make([]byte, 64)
	for i := range 20 {
		start := time.Now()
		if _, err := cli.WriteToUDP([]byte{byte(i)}, to); err != nil {
			t.Fatal(err)
		}
		cli.SetReadDeadline(time.Now().Add(time.Second))
		if _, _, err := cli.ReadFromUDP(buf); err != nil {
			t.Fatalf("probe %d: no echo: %v", i, err)
		}
		rtts = append(rtts, time.Since(start))
	}
	slices.Sort(rtts)
	med := rtts[len(rtts)/2]
	if med < 19*time.Millisecond || med > 24*time.Millisecond {
		t.Errorf("got median RTT %v, want 20ms (19ms to 24ms)", med)
	}
	// The forwarder counts a packet just after writing it, so the last
	// echo can reach the client a moment before it is counted.
	s := settled(l, func(s Stats) bool { return s.AB.OutPackets == 20 && s.BA.OutPackets == 20 })
	if s.AB.OutPackets != 20 || s.BA.OutPackets != 20 {
		t.Errorf("got %d packets A to B and %d back, want 20 each", s.AB.OutPackets, s.BA.OutPackets)
	}
}

func TestLinkLossAndBlackhole(t *testing.T) {
	needRoot(t)
	l := upLink(t, Config{AB: Dir{Loss: 0.1}})
	srv := udpIn(t, l.NSB, AddrB+":9001")
	cli := udpIn(t, l.NSA, AddrA+":0")
	to := net.UDPAddrFromAddrPort(mustAddrPort(AddrB + ":9001"))
	const n = 2000
	got := make(chan int)
	go func() { got <- count(srv, 300*time.Millisecond) }()
	payload := make([]byte, 200)
	for i := range n {
		if _, err := cli.WriteToUDP(payload, to); err != nil {
			t.Fatal(err)
		}
		if i%20 == 19 {
			time.Sleep(time.Millisecond) // stay well below the TUN device's queue (1000 packets)
		}
	}
	recv := <-got
	s := settled(l, func(s Stats) bool { return s.AB.InPackets == n && s.AB.OutPackets+s.AB.DropLoss == n })
	if s.AB.InPackets != n {
		t.Fatalf("got %d packets into the link, want %d", s.AB.InPackets, n)
	}
	// Binomial standard deviation is 13 packets; allow about 4.5 of them.
	if lost := n - recv; lost < 140 || lost > 260 {
		t.Errorf("got %d of %d lost, want about 200 (10%%)", lost, n)
	}
	if uint64(recv) != s.AB.OutPackets || s.AB.DropLoss+s.AB.OutPackets != n {
		t.Errorf("counters %+v disagree with %d received", s.AB, recv)
	}

	l.SetBlackhole(true)
	go func() { got <- count(srv, 200*time.Millisecond) }()
	for range 100 {
		cli.WriteToUDP(payload, to)
	}
	if recv := <-got; recv != 0 {
		t.Errorf("blackhole: got %d packets through, want 0", recv)
	}
	if d := settled(l, func(x Stats) bool { return x.Sub(s).AB.DropBlackhole == 100 }).Sub(s).AB.DropBlackhole; d != 100 {
		t.Errorf("blackhole: got %d counted drops, want 100", d)
	}

	l.SetBlackhole(false)
	go func() { got <- count(srv, 200*time.Millisecond) }()
	for range 10 {
		cli.WriteToUDP(payload, to)
	}
	if recv := <-got; recv == 0 {
		t.Error("blackhole off: got nothing through, want most of 10 packets")
	}
}

func TestLinkRate(t *testing.T) {
	needRoot(t)
	// 16 Mbit/s: 1000 packets of 1028 IP bytes take 514 ms.
	l := upLink(t, Config{AB: Dir{Delay: 5 * time.Millisecond, Rate: 16e6, Queue: 2 << 20}})
	srv := udpIn(t, l.NSB, AddrB+":9002")
	cli := udpIn(t, l.NSA, AddrA+":0")
	to := net.UDPAddrFromAddrPort(mustAddrPort(AddrB + ":9002"))
	type result struct {
		n           int
		first, last time.Time
	}
	done := make(chan result)
	go func() {
		var r result
		buf := make([]byte, 2048)
		for {
			srv.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			if _, _, err := srv.ReadFromUDP(buf); err != nil {
				done <- r
				return
			}
			if r.n == 0 {
				r.first = time.Now()
			}
			r.last = time.Now()
			r.n++
		}
	}()
	payload := make([]byte, 1000)
	for range 1000 {
		if _, err := cli.WriteToUDP(payload, to); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal(err)
		}
	}
	r := <-done
	if r.n != 1000 {
		t.Fatalf("got %d packets, want 1000 (queue drops: %d)", r.n, l.Stats().AB.DropQueue)
	}
	want := time.Duration(999 * 1028 * 8 * float64(time.Second) / 16e6)
	if got := r.last.Sub(r.first); got < want*9/10 || got > want*11/10 {
		t.Errorf("got 1000 packets spread over %v, want %v (±10%%)", got, want)
	}
}

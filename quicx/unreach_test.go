package quicx

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/qxfer/qxfer/certs"
)

// closedPort returns a loopback UDP address on which nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

// TestDialNoListener dials a real closed UDP port on loopback: the kernel
// answers with ICMP port unreachable, and Dial must say so at once
// instead of waiting for its timeout.
func TestDialNoListener(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("ICMP errors on unconnected UDP sockets are read on Linux only")
	}
	addr := closedPort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	_, err := Dial(ctx, addr, ClientTLS(identity(t), testALPN, "qxfer", func(certs.Fingerprint) error { return nil }), Config{HandshakeTimeout: 20 * time.Second}, zerolog.Nop())
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Dial took %v, want an answer at once", took)
	}
	var nl *NoListenerError
	if !errors.As(err, &nl) {
		t.Fatalf("got %v, want a *NoListenerError", err)
	}
	_, port, _ := net.SplitHostPort(addr)
	if want := "nothing listens on UDP " + port + " at 127.0.0.1"; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	if strconv.Itoa(nl.Port) != port || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("got %+v, want port %s wrapping ECONNREFUSED", nl, port)
	}
}

// TestDialAfterRecvErr: a connection dialled with IP_RECVERR on for its
// handshake keeps working, and a refused datagram sent later (to a closed
// port, from the same socket) does not end it.
func TestDialAfterRecvErr(t *testing.T) {
	id := identity(t)
	ln, _ := listen(t, id, func(certs.Fingerprint) error { return nil })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dialAny(ctx, t, ln.Addr().String())
	ra, _ := net.ResolveUDPAddr("udp", closedPort(t))
	c.mu.Lock()
	udp := c.udp
	c.mu.Unlock()
	if _, err := udp.WriteToUDP([]byte{0}, ra); err != nil {
		t.Fatal(err)
	}
	str, err := c.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := str.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := str.Read(buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo: got %q, %v; want ping", buf, err)
	}
}

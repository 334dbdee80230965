package udpproxy

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

// testTLS returns a server and a client TLS configuration around a fresh
// self-signed ed25519 certificate for 127.0.0.1.
func testTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	server = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: priv}},
		NextProtos:   []string{"test"},
	}
	client = &tls.Config{RootCAs: roots, NextProtos: []string{"test"}}
	return server, client
}

// newTransport returns a QUIC transport on a fresh loopback socket, closed
// when the test ends.
func newTransport(t *testing.T) *quic.Transport {
	t.Helper()
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	tr := &quic.Transport{Conn: udp}
	t.Cleanup(func() {
		if err := tr.Close(); err != nil {
			t.Errorf("transport close: %v", err)
		}
		udp.Close()
	})
	return tr
}

// TestQUICRebind echoes 1 MiB over a QUIC stream through a proxy with 10ms
// delay and rebinds the NAT mapping mid-transfer. The transfer can only
// finish if the server follows the client to its new address.
func TestQUICRebind(t *testing.T) {
	checkGoroutines(t)
	serverTLS, clientTLS := testTLS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Explicit transports: Close on them waits for quic-go's goroutines,
	// where ListenAddr and DialAddr let closed connections linger.
	serverTr := newTransport(t)
	ln, err := serverTr.Listen(serverTLS, &quic.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := newProxy(t, Config{Server: serverTr.Conn.LocalAddr().(*net.UDPAddr), Delay: 10 * time.Millisecond})

	var wg sync.WaitGroup
	defer func() {
		cancel() // unblocks the server goroutine if the test failed early
		wg.Wait()
	}()
	serverConns := make(chan *quic.Conn, 1)
	wg.Go(func() {
		conn, err := ln.Accept(ctx)
		if err != nil {
			t.Errorf("accept: %v", err)
			close(serverConns)
			return
		}
		serverConns <- conn
		str, err := conn.AcceptStream(ctx)
		if err != nil {
			t.Errorf("accept stream: %v", err)
			return
		}
		if _, err := io.Copy(str, str); err != nil {
			t.Errorf("server echo: %v", err)
		}
		str.Close()
	})

	conn, err := newTransport(t).Dial(ctx, p.Addr(), clientTLS, &quic.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseWithError(0, "")
	serverConn := <-serverConns
	if serverConn == nil {
		t.FailNow()
	}
	defer serverConn.CloseWithError(0, "")
	before := serverConn.RemoteAddr().String()

	str, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	str.SetDeadline(time.Now().Add(20 * time.Second))
	data := make([]byte, 1<<20)
	rand.Read(data)
	start := time.Now()
	wg.Go(func() {
		if _, err := str.Write(data); err != nil {
			t.Errorf("client write: %v", err)
		}
		str.Close()
	})

	got := make([]byte, 0, len(data))
	buf := make([]byte, 32<<10)
	rebound := false
	for {
		n, err := str.Read(buf)
		got = append(got, buf[:n]...)
		if !rebound && len(got) >= len(data)/4 {
			if err := p.Rebind(); err != nil {
				t.Fatalf("Rebind: %v", err)
			}
			rebound = true
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("client read after %d bytes: %v", len(got), err)
		}
	}
	t.Logf("1 MiB echoed in %s, rebind after %d bytes; proxy stats %+v", time.Since(start), len(data)/4, p.Stats())
	if !bytes.Equal(got, data) {
		t.Fatalf("echo: got %d bytes, want the %d bytes sent", len(got), len(data))
	}
	if !rebound {
		t.Fatal("Rebind was never called")
	}
	if after := serverConn.RemoteAddr().String(); after == before {
		t.Errorf("server's view of the client: got %s after Rebind, want a new address", after)
	}
}

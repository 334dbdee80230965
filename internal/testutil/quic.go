package testutil

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

// ALPN is the protocol the configurations of SelfSignedTLS offer.
const ALPN = "qxfer-testutil"

// SelfSignedTLS returns a server and a client TLS configuration around a
// fresh self-signed ed25519 certificate for 127.0.0.1, valid for an hour
// either side of now; the client trusts only that certificate. Both offer
// ALPN.
func SelfSignedTLS(t testing.TB) (server, client *tls.Config) {
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
		NextProtos:   []string{ALPN},
	}
	client = &tls.Config{RootCAs: roots, NextProtos: []string{ALPN}}
	return server, client
}

// Transport returns a QUIC transport on a fresh loopback UDP socket,
// closed when the test ends. Close on a transport waits for quic-go's
// goroutines, where quic.ListenAddr and quic.DialAddr let closed
// connections linger, so a leak check after it is sound.
func Transport(t testing.TB) *quic.Transport {
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

// QUICPair connects a client to a server over loopback UDP, each on a
// Transport of its own and both with conf, and returns the two ends of the
// connection; they are closed when the test ends.
func QUICPair(t testing.TB, conf *quic.Config) (client, server *quic.Conn) {
	t.Helper()
	serverTLS, clientTLS := SelfSignedTLS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ln, err := Transport(t).Listen(serverTLS, conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan *quic.Conn, 1)
	acceptErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept(ctx)
		if err != nil {
			acceptErr <- err
			return
		}
		accepted <- c
	}()
	client, err = Transport(t).Dial(ctx, ln.Addr(), clientTLS, conf)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { client.CloseWithError(0, "") })
	select {
	case server = <-accepted:
	case err := <-acceptErr:
		t.Fatalf("accept: %v", err)
	}
	t.Cleanup(func() { server.CloseWithError(0, "") })
	return client, server
}

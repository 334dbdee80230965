package udpproxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/qxfer/qxfer/internal/testutil"
)

// TestQUICRebind echoes 1 MiB over a QUIC stream through a proxy with 10ms
// delay and rebinds the NAT mapping mid-transfer. The transfer can only
// finish if the server follows the client to its new address.
func TestQUICRebind(t *testing.T) {
	testutil.LeakCheck(t)
	serverTLS, clientTLS := testutil.SelfSignedTLS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Explicit transports, so the leak check is sound.
	serverTr := testutil.Transport(t)
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

	conn, err := testutil.Transport(t).Dial(ctx, p.Addr(), clientTLS, &quic.Config{})
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

package quicx

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/rs/zerolog"

	"github.com/qxfer/qxfer/certs"
	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/internal/udpproxy"
)

const testALPN = "qxfer-test"

func identity(t *testing.T) *certs.Identity {
	t.Helper()
	id, err := certs.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// listen starts a listener whose accepted connections echo every stream.
func listen(t *testing.T, id *certs.Identity, verify VerifyFunc) (*Listener, <-chan certs.Fingerprint) {
	t.Helper()
	ln, err := Listen("127.0.0.1:0", ServerTLS(id, testALPN, verify), Config{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	peers := make(chan certs.Fingerprint, 4)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept(ctx)
			if err != nil {
				return
			}
			fp, _ := PeerFingerprint(conn.ConnectionState().TLS)
			peers <- fp
			wg.Go(func() {
				for {
					str, err := conn.AcceptStream(ctx)
					if err != nil {
						return
					}
					wg.Go(func() {
						io.Copy(str, str)
						str.Close()
					})
				}
			})
		}
	})
	t.Cleanup(func() {
		cancel()
		ln.Close()
		wg.Wait()
	})
	return ln, peers
}

// dialAny dials addr with a fresh identity, trusting any server; the
// connection is closed when the test ends.
func dialAny(ctx context.Context, t *testing.T, addr string) *Conn {
	t.Helper()
	c, err := Dial(ctx, addr, ClientTLS(identity(t), testALPN, "x", func(certs.Fingerprint) error { return nil }), Config{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(0, "") })
	return c
}

// echo writes data on a new stream of c, whose listener echoes it,
// calling mid once the first at bytes are written, and fails the test
// unless the echo brings back data intact before ctx ends.
func echo(ctx context.Context, t *testing.T, c *Conn, data []byte, at int, mid func()) {
	t.Helper()
	str, err := c.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(str)
		got <- b
	}()
	if _, err := str.Write(data[:at]); err != nil {
		t.Fatal(err)
	}
	mid()
	if _, err := str.Write(data[at:]); err != nil {
		t.Fatal(err)
	}
	str.Close()
	select {
	case b := <-got:
		if !bytes.Equal(b, data) {
			t.Fatalf("echo: got %d bytes, want %d identical", len(b), len(data))
		}
	case <-ctx.Done():
		t.Fatal("echo did not finish")
	}
}

func TestMutualTLS(t *testing.T) {
	srvID, cliID := identity(t), identity(t)
	ln, peers := listen(t, srvID, func(fp certs.Fingerprint) error {
		if fp != cliID.Fingerprint {
			return errors.New("unknown client")
		}
		return nil
	})
	var sawServer certs.Fingerprint
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, ln.Addr().String(), ClientTLS(cliID, testALPN, "x", func(fp certs.Fingerprint) error {
		sawServer = fp
		return nil
	}), Config{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(0, "")
	if sawServer != srvID.Fingerprint {
		t.Errorf("client saw server %s, want %s", sawServer, srvID.Fingerprint)
	}
	if got := <-peers; got != cliID.Fingerprint {
		t.Errorf("server saw client %s, want %s", got, cliID.Fingerprint)
	}
}

func TestRefusals(t *testing.T) {
	srvID := identity(t)
	ln, _ := listen(t, srvID, func(certs.Fingerprint) error { return errors.New("not authorized") })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// In TLS 1.3 the client finishes its handshake before the server has
	// checked the client certificate, so the refusal may arrive just
	// after Dial returns, as the connection's close cause.
	c, err := Dial(ctx, ln.Addr().String(), ClientTLS(identity(t), testALPN, "x", func(certs.Fingerprint) error { return nil }), Config{}, zerolog.Nop())
	if err == nil {
		select {
		case <-c.Context().Done():
			err = context.Cause(c.Context())
		case <-ctx.Done():
		}
		c.Close(0, "")
	}
	if err == nil || !IsPeerRefusedCert(err) {
		t.Fatalf("server refusal: got %v, want a peer-refused-certificate error", err)
	}

	ln2, _ := listen(t, srvID, func(certs.Fingerprint) error { return nil })
	errPin := errors.New("pinned fingerprint differs")
	_, err = Dial(ctx, ln2.Addr().String(), ClientTLS(identity(t), testALPN, "x", func(certs.Fingerprint) error { return errPin }), Config{}, zerolog.Nop())
	if err == nil || IsPeerRefusedCert(err) {
		t.Fatalf("client refusal: got %v, want a local handshake failure", err)
	}
}

// TestMigrate moves a connection to a new socket in the middle of an echo
// through the proxy: the bytes come back intact, the local address
// changed, and the connection was never re-established.
func TestMigrate(t *testing.T) {
	srvID := identity(t)
	ln, peers := listen(t, srvID, func(certs.Fingerprint) error { return nil })
	px, err := udpproxy.New(udpproxy.Config{Server: ln.Addr(), Delay: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := dialAny(ctx, t, px.Addr().String())
	<-peers
	data := make([]byte, 8<<20)
	rand.Read(data)
	before := c.LocalUDPAddr()
	echo(ctx, t, c, data, 2<<20, func() {
		if err := c.Migrate(ctx, "127.0.0.1:0"); err != nil {
			t.Fatalf("migrate: %v", err)
		}
	})
	after := c.LocalUDPAddr()
	if after.Port == before.Port {
		t.Errorf("local port after migration: got %d, want a new one", after.Port)
	}
	if got := c.Migrations(); got != 1 {
		t.Errorf("migrations: got %d, want 1", got)
	}
	select {
	case fp := <-peers:
		t.Errorf("server accepted a second connection (%s): migration reconnected", fp)
	default:
	}
	var qe *quic.ApplicationError
	if err := c.Context().Err(); err != nil && !errors.As(context.Cause(c.Context()), &qe) {
		t.Errorf("connection closed: %v", context.Cause(c.Context()))
	}
}

func TestRouteSource(t *testing.T) {
	ip, err := RouteSource(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9})
	if err != nil {
		t.Fatal(err)
	}
	if !ip.IsLoopback() {
		t.Errorf("route source to 127.0.0.1: got %s, want a loopback address", ip)
	}
}

// TestWatchRoute changes the route to the server (from 127.0.0.1 to
// 127.0.0.2, both loopback on Linux) in the middle of an echo: the watcher
// moves the connection to a socket on the new address and the echo
// completes. A route to an address the machine does not have fails the
// migration and is reported, leaving the connection on its old path.
func TestWatchRoute(t *testing.T) {
	for _, tt := range testutil.RouteChanges(t) {
		t.Run(tt.Name, func(t *testing.T) {
			ln, peers := listen(t, identity(t), func(certs.Fingerprint) error { return nil })
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c := dialAny(ctx, t, ln.Addr().String())
			<-peers
			route := testutil.NewRoute(net.IPv4(127, 0, 0, 1))
			results := make(chan error, 4)
			wctx, stop := context.WithCancel(ctx)
			var wg sync.WaitGroup
			wg.Go(func() {
				c.WatchRouteWith(wctx, 20*time.Millisecond, route.Source, func(_, _ net.IP, err error) {
					select {
					case results <- err:
					default: // a failed route is retried every tick
					}
				})
			})
			defer func() { stop(); wg.Wait() }()

			data := make([]byte, 4<<20)
			rand.Read(data)
			echo(ctx, t, c, data, 1<<20, func() {
				route.Set(tt.To)
				var merr error
				select {
				case merr = <-results:
				case <-ctx.Done():
					t.Fatal("the watcher did not react to the route change")
				}
				if (merr != nil) != tt.Unusable {
					t.Fatalf("migration error: got %v, want error %v", merr, tt.Unusable)
				}
			})
			wantIP, wantMigrations := tt.To, 1
			if tt.Unusable {
				wantIP, wantMigrations = net.IPv4(127, 0, 0, 1), 0
			}
			if ip := c.LocalUDPAddr().IP; !tt.Unusable && !ip.Equal(wantIP) {
				t.Errorf("local address after the route change: got %s, want %s", ip, wantIP)
			}
			if got := c.Migrations(); got != wantMigrations {
				t.Errorf("migrations: got %d, want %d", got, wantMigrations)
			}
		})
	}
}

// TestQlogDir: with QLOGDIR set, as in quic-go's own tools, each side of
// a connection writes its qlog there (<odcid>_client.sqlog and
// _server.sqlog, quic-go's names), holding the connection's events; the
// trace is written when the connection closes.
func TestQlogDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "qlog")
	t.Setenv("QLOGDIR", dir)
	ln, _ := listen(t, identity(t), func(certs.Fingerprint) error { return nil })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := dialAny(ctx, t, ln.Addr().String())
	echo(ctx, t, c, []byte("traced"), 3, func() {})
	c.Close(0, "")
	for _, side := range []string{"client", "server"} {
		var found []byte
		testutil.Eventually(t, 5*time.Second, "the "+side+" qlog", func() bool {
			m, _ := filepath.Glob(filepath.Join(dir, "*_"+side+".sqlog"))
			if len(m) != 1 {
				return false
			}
			found, _ = os.ReadFile(m[0])
			return bytes.Contains(found, []byte("transport:packet_sent"))
		})
		if !bytes.Contains(found, []byte(`"vantage_point":{"type":"`+side+`"}`)) {
			t.Errorf("%s qlog: no %s vantage point in %.200q", side, side, found)
		}
	}
}

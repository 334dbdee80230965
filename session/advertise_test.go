package session

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"testing"

	"github.com/qxfer/qxfer/certs"
	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/internal/udpproxy"
	"github.com/qxfer/qxfer/quicx"
	"github.com/qxfer/qxfer/session/internal/wire"
)

// freeUDPAddr is a loopback UDP address free a moment ago, for a server
// that must know its own address (--advertise) before it listens.
func freeUDPAddr(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().String()
}

// startS3At starts a qxfer server of the bucket of s3 on addr with
// identity id, advertising advertise.
func startS3At(t *testing.T, s3 *testutil.S3Server, id *certs.Identity, addr, advertise string) *testServer {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", s3.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3.SecretKey)
	cfg := ServerConfig{
		Root: "s3://" + s3.Bucket + "/" + s3Prefix, S3Endpoint: s3.Endpoint, S3Region: "us-east-1",
		s3PartSize: testPartSize, Advertise: advertise,
	}
	return serveAt(t, cfg, id, addr, quicx.Config{}, nil)
}

// remoteAddrs are the addresses the pool connections of c (not the
// primary) are connected to.
func remoteAddrs(c *clientConn) []string {
	c.pool.mu.Lock()
	defer c.pool.mu.Unlock()
	var out []string
	for _, m := range c.pool.members {
		out = append(out, m.Conn.(interface{ RemoteAddr() net.Addr }).RemoteAddr().String())
	}
	return out
}

// TestAdvertiseJoins runs servers behind one name: two servers of one
// bucket with one identity, each advertising its own address. A client
// that reached server A through the name (a proxy standing for the load
// balancer) joins its pool at A's address, and a striped push lands in
// the bucket; a Join that reaches B with A's token is refused with
// wrong_server, and B goes on serving; an advertised address that leads
// to another server, or to another identity, leaves the pool smaller and
// the session working.
func TestAdvertiseJoins(t *testing.T) {
	s3 := testutil.StartS3(t)
	id := newIdentity(t)
	addrA, addrB := freeUDPAddr(t), freeUDPAddr(t)
	a := startS3At(t, s3, id, addrA, addrA)
	b := startS3At(t, s3, id, addrB, addrB)

	t.Run("joins at the advertised address", func(t *testing.T) {
		name := throttledProxy(t, a, udpproxy.Config{})
		c := dialWith(t, name.Addr().String(), ClientConfig{Identity: newIdentity(t), Fingerprint: id.Fingerprint, Logger: testLogger(t), Pool: PoolConfig{Size: 3}})
		if got := c.welcome.JoinAddr; got != addrA {
			t.Fatalf("Welcome.JoinAddr: got %q, want %q", got, addrA)
		}
		if n := c.PoolSize(); n != 3 {
			t.Fatalf("pool: got %d connections, want 3", n)
		}
		for _, r := range remoteAddrs(c) {
			if r != addrA {
				t.Errorf("pool connection to %s, want %s (the advertised address, not the name %s)", r, addrA, name.Addr())
			}
		}
		src := filepath.Join(t.TempDir(), "named.bin")
		data := testutil.WriteRandom(t, src, 3*testPartSize+5)
		rep, err := c.Push(longCtx(t), []string{src}, ".", Options{})
		checkReport(t, "push", rep, err, 1, Done)
		testutil.SameFile(t, objectPath(s3, "named.bin"), data)
	})

	t.Run("a join at another server", func(t *testing.T) {
		pa := dialRaw(t, a)
		defer pa.close()
		w := pa.hello()
		if len(w.Token) != 16 || w.JoinAddr != addrA {
			t.Fatalf("got Welcome{Token: %x, JoinAddr: %q}, want 16 bytes and %q", w.Token, w.JoinAddr, addrA)
		}
		for _, tt := range []struct {
			name  string
			token []byte
			want  ErrorCode
		}{
			{"A's session", w.Token, CodeWrongServer},
			{"no server's token", []byte("not a token"), CodeUnknownTransfer},
		} {
			pb := dialRaw(t, b)
			pb.send(&wire.Join{Magic: [4]byte([]byte(wire.Magic)), Version: wire.Version, Token: tt.token})
			if r := expectMsg[*wire.Reject](pb); r.Code != tt.want || r.ID != 0 {
				t.Errorf("%s: got Reject{ID: %d, Code: %v, Msg: %q}, want Reject{ID: 0, Code: %v}", tt.name, r.ID, r.Code, r.Msg, tt.want)
			}
			pb.close()
		}
		// B's own sessions are B's to join.
		cid := newIdentity(t)
		pb := dialRawAs(t, b, cid)
		defer pb.close()
		wb := pb.hello()
		if bytes.Equal(wb.Token[:8], w.Token[:8]) {
			t.Errorf("A and B name their sessions alike (%x, %x)", w.Token[:8], wb.Token[:8])
		}
		pj := dialRawAs(t, b, cid)
		defer pj.close()
		pj.send(&wire.Join{Magic: [4]byte([]byte(wire.Magic)), Version: wire.Version, Token: wb.Token})
		expectMsg[*wire.Welcome](pj)
		checkServes(t, b)
	})

	t.Run("advertised address leads elsewhere", func(t *testing.T) {
		other := newIdentity(t)
		addrD := freeUDPAddr(t)
		startS3At(t, s3, other, addrD, "")
		for _, tt := range []struct {
			name, advertise string
			want            ErrorCode // of the join; 0xffff: no *Error (the handshake failed)
		}{
			{"to another server", addrB, CodeWrongServer},
			{"to another identity", addrD, 0xffff},
		} {
			t.Run(tt.name, func(t *testing.T) {
				c := startS3At(t, s3, id, "127.0.0.1:0", tt.advertise)
				cl := dialWith(t, c.addr, ClientConfig{Identity: newIdentity(t), Fingerprint: id.Fingerprint, Logger: testLogger(t), Pool: PoolConfig{Size: 3}})
				if n := cl.PoolSize(); n != 1 {
					t.Errorf("pool: got %d connections, want 1 (the joins refused)", n)
				}
				err := cl.pool.join(testCtx(t))
				if err == nil || codeOfErr(err) != tt.want {
					t.Errorf("join: got %v (code %v), want code %v", err, codeOfErr(err), tt.want)
				}
				src := filepath.Join(t.TempDir(), "alone.bin")
				data := testutil.WriteRandom(t, src, 100<<10)
				rep, err := cl.Push(context.Background(), []string{src}, tt.name, Options{})
				checkReport(t, "push on the primary", rep, err, 1, Done)
				testutil.SameFile(t, objectPath(s3, tt.name+"/alone.bin"), data)
			})
		}
	})
}

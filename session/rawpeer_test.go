package session

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/quicvarint"

	"github.com/qxfer/qxfer/certs"
	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/internal/udpproxy"
	"github.com/qxfer/qxfer/quicx"
	"github.com/qxfer/qxfer/session/internal/wire"
)

// rawTimeout bounds every wait of a raw peer, so a server that stays
// silent fails the test instead of hanging it.
const rawTimeout = 5 * time.Second

// rawPeer is a client that speaks the wire protocol by hand, byte by byte,
// so tests can send what a well-behaved clientConn never would.
type rawPeer struct {
	t    testing.TB
	conn *quic.Conn
	str  *quic.Stream  // the command channel
	r    *bufio.Reader // reads frames from str
	once sync.Once
}

// dialQUIC completes only the QUIC handshake with ts, checking its
// fingerprint; the connection is closed when the test ends.
func dialQUIC(t testing.TB, ts *testServer) *quic.Conn {
	t.Helper()
	return dialQUICAs(t, ts, newIdentity(t))
}

// dialQUICAs is dialQUIC with the client identity id.
func dialQUICAs(t testing.TB, ts *testServer, id *certs.Identity) *quic.Conn {
	t.Helper()
	verify := func(fp certs.Fingerprint) error {
		if fp != ts.id.Fingerprint {
			return fmt.Errorf("server fingerprint: got %s, want %s", fp, ts.id.Fingerprint)
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), rawTimeout)
	defer cancel()
	conn, err := quic.DialAddr(ctx, ts.addr, quicx.ClientTLS(id, ALPN, "qxfer", verify), &quic.Config{MaxIdleTimeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("raw dial: %v", err)
	}
	t.Cleanup(func() { conn.CloseWithError(0, "") })
	return conn
}

// dialRaw completes the QUIC handshake with ts and opens the command
// stream, but sends nothing on it.
func dialRaw(t testing.TB, ts *testServer) *rawPeer {
	t.Helper()
	return dialRawAs(t, ts, newIdentity(t))
}

// dialRawAs is dialRaw with the client identity id.
func dialRawAs(t testing.TB, ts *testServer, id *certs.Identity) *rawPeer {
	t.Helper()
	conn := dialQUICAs(t, ts, id)
	ctx, cancel := context.WithTimeout(context.Background(), rawTimeout)
	defer cancel()
	str, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatalf("raw open command stream: %v", err)
	}
	p := &rawPeer{t: t, conn: conn, str: str, r: bufio.NewReader(str)}
	t.Cleanup(p.close)
	return p
}

// close ends the connection with NoError; later calls do nothing.
func (p *rawPeer) close() {
	p.once.Do(func() { p.conn.CloseWithError(quic.ApplicationErrorCode(CodeOK), "") })
}

// sendBytes writes b to the command channel as is.
func (p *rawPeer) sendBytes(b []byte) {
	p.t.Helper()
	if _, err := p.str.Write(b); err != nil {
		p.t.Fatalf("raw write: %v", err)
	}
}

// send writes one well-formed frame.
func (p *rawPeer) send(m wire.Message) {
	p.t.Helper()
	p.sendBytes(wire.AppendFrame(nil, m))
}

// recv reads the next frame from the server.
func (p *rawPeer) recv() (wire.Message, error) {
	p.str.SetReadDeadline(time.Now().Add(rawTimeout))
	return wire.ReadFrame(p.r)
}

// hello runs a correct handshake and returns the Welcome.
func (p *rawPeer) hello() *wire.Welcome {
	p.t.Helper()
	p.send(&wire.Hello{Magic: [4]byte([]byte(wire.Magic)), Version: wire.Version, Software: "rawpeer"})
	return expectMsg[*wire.Welcome](p)
}

// expectMsg reads the next frame and fails the test unless it is a T.
// Acks, Seals and PartAligns, which accompany a transfer's ranges, are skipped unless
// T is one of them.
func expectMsg[T wire.Message](p *rawPeer) T {
	p.t.Helper()
	m, err := p.recv()
	for {
		if err != nil {
			p.t.Fatalf("waiting for %T: %v", *new(T), err)
		}
		_, want := m.(T)
		_, isAck := m.(*wire.Ack)
		_, isSeal := m.(*wire.Seal)
		_, isAlign := m.(*wire.PartAlign)
		if want || !(isAck || isSeal || isAlign) {
			break
		}
		m, err = p.recv()
	}
	v, ok := m.(T)
	if !ok {
		p.t.Fatalf("got %s %+v, want %T", m.Type(), m, *new(T))
	}
	return v
}

// expectClose reads until the connection fails and returns the application
// error the server closed it with. Frames received on the way are returned
// too, for cases that expect (or forbid) an answer before the close.
func (p *rawPeer) expectClose() (*quic.ApplicationError, []wire.Message) {
	p.t.Helper()
	var got []wire.Message
	for {
		m, err := p.recv()
		if err == nil {
			got = append(got, m)
			continue
		}
		var ae *quic.ApplicationError
		if !errors.As(err, &ae) {
			p.t.Fatalf("read after violation: got %v (frames %v), want the connection closed with an application error", err, got)
		}
		if !ae.Remote {
			p.t.Fatalf("connection closed locally (%v), want closed by the server", ae)
		}
		return ae, got
	}
}

// expectClosedWith reads until the server closes the connection
// (expectClose) and checks that it closed it with code, sending no frame
// first.
func (p *rawPeer) expectClosedWith(code ErrorCode) {
	p.t.Helper()
	ae, frames := p.expectClose()
	if got := ErrorCode(ae.ErrorCode); got != code {
		p.t.Errorf("close code: got %v (%q), want %v", got, ae.ErrorMessage, code)
	}
	if len(frames) != 0 {
		p.t.Errorf("frames before close: got %v, want none", frames)
	}
}

// expectRefused reads the answer to request 1, sent for path, and checks
// that it is a Reject with code want; then that the session goes on (a
// List is still answered).
func (p *rawPeer) expectRefused(path string, want ErrorCode) {
	p.t.Helper()
	r := expectMsg[*wire.Reject](p)
	if r.ID != 1 || r.Code != want {
		p.t.Errorf("%q: got Reject{ID: %d, Code: %v, Msg: %q}, want ID 1, code %v", path, r.ID, r.Code, r.Msg, want)
	}
	p.send(&wire.List{ID: 2, Path: "."})
	expectMsg[*wire.ListResult](p)
}

// openRange opens a range stream for [offset, offset+length) of request
// id and writes its header.
func (p *rawPeer) openRange(id, offset, length uint64) *quic.SendStream {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), rawTimeout)
	defer cancel()
	ws, err := p.conn.OpenUniStreamSync(ctx)
	if err != nil {
		p.t.Fatalf("open range stream: %v", err)
	}
	if _, err := ws.Write(wire.AppendRangeHeader(nil, wire.RangeHeader{ID: id, Offset: offset, Length: length})); err != nil {
		p.t.Fatalf("write range header: %v", err)
	}
	return ws
}

// sendFile sends data as request id's one range and its seal (sum, which
// may be wrong on purpose).
func (p *rawPeer) sendFile(id uint64, data []byte, sum []byte) {
	p.t.Helper()
	ws := p.openRange(id, 0, uint64(len(data)))
	ws.Write(data)
	ws.Close()
	p.send(&wire.Seal{ID: id, Hash: sum[:]})
}

// waitReceived waits until the server's live transfer of path has
// received at least n bytes (its .part is preallocated at full size, so
// its length says nothing).
func waitReceived(t testing.TB, ts *testServer, path string, n int64) {
	t.Helper()
	testutil.Eventually(t, rawTimeout, fmt.Sprintf("the server to receive %d bytes of %s", n, path), func() bool {
		for _, i := range ts.srv.Transfers().Snapshot() {
			if i.Path == path && i.Bytes >= n {
				return true
			}
		}
		return false
	})
}

// pushUnderWay pushes the file local to remote on ts (its directory
// must exist) from a new client, through a link of rateBits, and returns
// once the server has received n bytes of it; the push's result arrives
// on the channel.
func pushUnderWay(t testing.TB, ts *testServer, rateBits int64, local, remote string, n int64) <-chan pushResult {
	t.Helper()
	c := ts.dial(t, throttledProxy(t, ts, udpproxy.Config{RateBits: rateBits}).Addr().String())
	done := pushAsync(longCtx(t), c, []string{local}, path.Dir(remote), Options{})
	waitReceived(t, ts, remote, n)
	return done
}

// stopCode waits until the server stops reading ws (STOP_SENDING) and
// returns the code it gave.
func stopCode(t testing.TB, ws *quic.SendStream) ErrorCode {
	t.Helper()
	select {
	case <-ws.Context().Done():
	case <-time.After(rawTimeout):
		t.Fatalf("data stream %d: server did not stop it within %v", ws.StreamID(), rawTimeout)
	}
	var se *quic.StreamError
	if err := context.Cause(ws.Context()); !errors.As(err, &se) || !se.Remote {
		t.Fatalf("data stream %d ended with %v, want a STOP_SENDING from the server", ws.StreamID(), err)
	}
	return ErrorCode(se.ErrorCode)
}

// checkServes runs a push and a pull with a well-behaved client, to show
// that whatever happened before left the server working.
func checkServes(t testing.TB, ts *testServer) {
	t.Helper()
	c := ts.dial(t, "")
	defer c.Close()
	src := t.TempDir()
	name := fmt.Sprintf("alive-%d.bin", time.Now().UnixNano())
	data := testutil.WriteRandom(t, filepath.Join(src, name), 100<<10)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep, err := c.Push(ctx, []string{filepath.Join(src, name)}, "alive", Options{})
	checkOK(t, "push after raw peer", rep, err)
	dst := t.TempDir()
	rep, err = c.Pull(ctx, []string{"alive/" + name}, dst, Options{})
	checkOK(t, "pull after raw peer", rep, err)
	testutil.SameFile(t, filepath.Join(dst, name), data)
	if strings.HasPrefix(ts.root, "s3://") {
		return // the object stays; its name is unique
	}
	if err := os.Remove(filepath.Join(ts.root, "alive", name)); err != nil {
		t.Fatal(err)
	}
}

// frameHeader encodes a frame type and length with no payload.
func frameHeader(t wire.FrameType, n uint64) []byte {
	return quicvarint.Append(quicvarint.Append(nil, uint64(t)), n)
}

// onlyFrame returns frames[0] if it is the only frame and a T.
func onlyFrame[T wire.Message](frames []wire.Message) (T, bool) {
	var zero T
	if len(frames) != 1 {
		return zero, false
	}
	v, ok := frames[0].(T)
	return v, ok
}

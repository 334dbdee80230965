package session

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/quicvarint"

	"github.com/qxfer/qxfer/certs"
	"github.com/qxfer/qxfer/quicx"
	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// rawTimeout bounds every wait of a raw peer, so a server that stays
// silent fails the test instead of hanging it.
const rawTimeout = 5 * time.Second

// rawPeer is a client that speaks the wire protocol by hand, byte by byte,
// so tests can send what a well-behaved Client never would.
type rawPeer struct {
	t    testing.TB
	conn *quic.Conn
	str  *quic.Stream  // the command channel
	r    *bufio.Reader // reads frames from str
	once sync.Once
}

// dialRaw completes the QUIC handshake with ts (checking its fingerprint)
// and opens the command stream, but sends nothing on it.
func dialRaw(t testing.TB, ts *testServer) *rawPeer {
	t.Helper()
	id, err := certs.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
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
	str, err := conn.OpenStreamSync(ctx)
	if err != nil {
		conn.CloseWithError(0, "")
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
// Acks and Seals, which accompany a transfer's ranges, are skipped unless
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
		if want || !(isAck || isSeal) {
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
func (p *rawPeer) sendFile(id uint64, data []byte, sum [32]byte) {
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
	waitFor(t, fmt.Sprintf("the server to receive %d bytes of %s", n, path), func() bool {
		for _, i := range ts.srv.Transfers().Snapshot() {
			if i.Path == path && i.Bytes >= n {
				return true
			}
		}
		return false
	})
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
	data := writeRandom(t, filepath.Join(src, name), 100<<10)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep, err := c.Push(ctx, []string{filepath.Join(src, name)}, "alive", Options{})
	if err != nil {
		t.Fatalf("push after raw peer: %v", err)
	}
	if err := rep.Err(); err != nil {
		t.Fatalf("push after raw peer: %v", err)
	}
	dst := t.TempDir()
	rep, err = c.Pull(ctx, []string{"alive/" + name}, dst, Options{})
	if err != nil {
		t.Fatalf("pull after raw peer: %v", err)
	}
	if err := rep.Err(); err != nil {
		t.Fatalf("pull after raw peer: %v", err)
	}
	sameFile(t, filepath.Join(dst, name), data)
	if err := os.Remove(filepath.Join(ts.root, "alive", name)); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds, failing the test after rawTimeout.
// It is for state that has no event to wait on, such as a file growing on
// the server.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(rawTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", rawTimeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRawHandshake sends bad first frames and checks how the server
// closes the connection.
func TestRawHandshake(t *testing.T) {
	ts := startServer(t, ServerConfig{}, nil)
	magic := [4]byte([]byte(wire.Magic))
	tests := []struct {
		name       string
		first      []byte
		wantReject bool // a Reject{ID: 0, Code: VersionMismatch} precedes the close
		wantClose  ErrorCode
	}{
		{"wrong version", wire.AppendFrame(nil, &wire.Hello{Magic: magic, Version: wire.Version + 1, Software: "future"}), true, CodeVersionMismatch},
		{"version zero", wire.AppendFrame(nil, &wire.Hello{Magic: magic, Version: 0}), true, CodeVersionMismatch},
		{"bad magic", wire.AppendFrame(nil, &wire.Hello{Magic: [4]byte{'H', 'T', 'T', 'P'}, Version: wire.Version}), false, CodeProtocolViolation},
		{"hello too large", frameHeader(wire.FrameTypeHello, wire.MaxFrameSize+1), false, CodeFrameTooLarge},
		{"huge length", frameHeader(wire.FrameTypeHello, quicvarint.Max), false, CodeFrameTooLarge},
		{"truncated hello", append(frameHeader(wire.FrameTypeHello, 2), 'Q', 'X'), false, CodeProtocolViolation},
		{"list before hello", wire.AppendFrame(nil, &wire.List{ID: 1, Path: "."}), false, CodeProtocolViolation},
		{"unknown frame before hello", wire.AppendFrame(nil, &wire.Unknown{FrameType: 0x21, Length: 3}), false, CodeProtocolViolation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := dialRaw(t, ts)
			p.sendBytes(tt.first)
			ae, frames := p.expectClose()
			if got := ErrorCode(ae.ErrorCode); got != tt.wantClose {
				t.Errorf("close code: got %v (%q), want %v", got, ae.ErrorMessage, tt.wantClose)
			}
			switch {
			case tt.wantReject:
				r, ok := onlyFrame[*wire.Reject](frames)
				if !ok || r.ID != 0 || r.Code != CodeVersionMismatch {
					t.Errorf("frames before close: got %v, want one Reject{ID: 0, Code: %v}", frames, CodeVersionMismatch)
				}
			case len(frames) != 0:
				t.Errorf("frames before close: got %v, want none", frames)
			}
			checkServes(t, ts)
		})
	}
}

// TestRawProtocolViolations breaks the protocol after a good handshake.
func TestRawProtocolViolations(t *testing.T) {
	ts := startServer(t, ServerConfig{}, nil)
	tests := []struct {
		name      string
		steps     func(p *rawPeer)
		wantClose ErrorCode
	}{
		{"frame too large", func(p *rawPeer) {
			p.sendBytes(frameHeader(wire.FrameTypeList, wire.MaxFrameSize+1))
		}, CodeFrameTooLarge},
		{"unknown frame too large", func(p *rawPeer) {
			p.sendBytes(frameHeader(0x21, wire.MaxFrameSize+1))
		}, CodeFrameTooLarge},
		{"repeated request id", func(p *rawPeer) {
			p.send(&wire.List{ID: 1, Path: "."})
			expectMsg[*wire.ListResult](p)
			p.send(&wire.List{ID: 1, Path: "."})
		}, CodeProtocolViolation},
		{"decreasing request id", func(p *rawPeer) {
			p.send(&wire.Stat{ID: 5, Path: "."})
			expectMsg[*wire.StatResult](p)
			p.send(&wire.Stat{ID: 4, Path: "."})
		}, CodeProtocolViolation},
		{"id shared across kinds", func(p *rawPeer) {
			p.send(&wire.Mkdir{ID: 3, Path: "shared", Mode: 0o755})
			expectMsg[*wire.OK](p)
			p.send(&wire.Put{ID: 3, Path: "shared/x", Size: 1, MTime: time.Now()})
		}, CodeProtocolViolation},
		{"request id zero", func(p *rawPeer) {
			p.send(&wire.List{ID: 0, Path: "."})
		}, CodeProtocolViolation},
		{"second hello", func(p *rawPeer) {
			p.send(&wire.Hello{Magic: [4]byte([]byte(wire.Magic)), Version: wire.Version})
		}, CodeProtocolViolation},
		{"server frame from client", func(p *rawPeer) {
			p.send(&wire.Welcome{Version: wire.Version, MaxTransfers: 1})
		}, CodeProtocolViolation},
		{"trailing bytes", func(p *rawPeer) {
			l := &wire.List{ID: 1, Path: "."}
			b := frameHeader(wire.FrameTypeList, uint64(l.Len()+1))
			p.sendBytes(append(l.Append(b), 0))
		}, CodeProtocolViolation},
		{"frame cut by end of stream", func(p *rawPeer) {
			p.sendBytes(frameHeader(wire.FrameTypeList, 10))
			p.str.Close()
		}, CodeProtocolViolation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := dialRaw(t, ts)
			p.hello()
			tt.steps(p)
			ae, frames := p.expectClose()
			if got := ErrorCode(ae.ErrorCode); got != tt.wantClose {
				t.Errorf("close code: got %v (%q), want %v", got, ae.ErrorMessage, tt.wantClose)
			}
			if len(frames) != 0 {
				t.Errorf("frames before close: got %v, want none", frames)
			}
			checkServes(t, ts)
		})
	}
}

// TestRawUnknownFrameSkipped checks that frames of unknown types are
// skipped, not treated as errors.
func TestRawUnknownFrameSkipped(t *testing.T) {
	ts := startServer(t, ServerConfig{}, nil)
	tests := []struct {
		name  string
		frame []byte
	}{
		{"empty", wire.AppendFrame(nil, &wire.Unknown{FrameType: 0x21})},
		{"small", wire.AppendFrame(nil, &wire.Unknown{FrameType: 0x3f, Length: 100})},
		{"maximum size", wire.AppendFrame(nil, &wire.Unknown{FrameType: 0x21, Length: wire.MaxFrameSize})},
		{"eight-byte type", wire.AppendFrame(nil, &wire.Unknown{FrameType: 1 << 40, Length: 5})},
		{"several", slices.Concat(
			wire.AppendFrame(nil, &wire.Unknown{FrameType: 0x22, Length: 1}),
			wire.AppendFrame(nil, &wire.Unknown{FrameType: 0x23, Length: 1000}),
		)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := dialRaw(t, ts)
			p.hello()
			p.sendBytes(tt.frame)
			p.send(&wire.List{ID: 1, Path: "."})
			if r := expectMsg[*wire.ListResult](p); r.ID != 1 || !r.Last {
				t.Errorf("got ListResult{ID: %d, Last: %v}, want ID 1, Last", r.ID, r.Last)
			}
			p.sendBytes(tt.frame)
			p.send(&wire.Stat{ID: 2, Path: "."})
			if r := expectMsg[*wire.StatResult](p); r.ID != 2 || r.Entry.Kind != wire.KindDir {
				t.Errorf("got StatResult{ID: %d, Kind: %v}, want ID 2, a directory", r.ID, r.Entry.Kind)
			}
			p.close()
			checkServes(t, ts)
		})
	}
}

// TestRawRangeStream sends range streams and seals that do not match
// their Put. (Version 1's trailer cases, a truncated or missing SHA-256
// after the body, have no counterpart: the hash travels in a Seal frame,
// whose length the codec checks.)
func TestRawRangeStream(t *testing.T) {
	ts := startServer(t, ServerConfig{}, nil)
	const size = 200 << 10
	tests := []struct {
		name string
		// body returns what follows the range header and the seal
		body     func(data []byte, sum [32]byte) ([]byte, [32]byte)
		wantCode ErrorCode
		wantPart int // size of the .part file kept (preallocated), -1 for none, -2 unchecked
	}{
		{"truncated body", func(d []byte, s [32]byte) ([]byte, [32]byte) { return d[:size/2], s }, CodeTruncated, size},
		{"empty stream", func(d []byte, s [32]byte) ([]byte, [32]byte) { return nil, s }, CodeTruncated, size},
		{"one byte too many", func(d []byte, s [32]byte) ([]byte, [32]byte) { return slices.Concat(d, []byte{0}), s }, CodeTooLong, -2},
		{"extra block", func(d []byte, s [32]byte) ([]byte, [32]byte) { return slices.Concat(d, d[:40]), s }, CodeTooLong, -2},
		{"wrong hash", func(d []byte, s [32]byte) ([]byte, [32]byte) { s[31] ^= 1; return d, s }, CodeHashMismatch, -1},
		{"corrupted byte", func(d []byte, s [32]byte) ([]byte, [32]byte) {
			c := slices.Clone(d)
			c[1234] ^= 0x80
			return c, s
		}, CodeHashMismatch, -1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "raw" + string(rune('a'+i)) + ".bin"
			data := writeRandom(t, filepath.Join(t.TempDir(), "src"), size)
			p := dialRaw(t, ts)
			p.hello()
			p.send(&wire.Put{ID: 1, Path: name, Size: size, Mode: 0o644, MTime: fileTime(0)})
			if a := expectMsg[*wire.Accept](p); a.ID != 1 || len(a.Have) != 0 || a.Flags != 0 {
				t.Fatalf("got %+v, want Accept{ID: 1} holding nothing", a)
			}
			body, seal := tt.body(data, sha256.Sum256(data))
			ws := p.openRange(1, 0, size)
			ws.Write(body)
			ws.Close()
			p.send(&wire.Seal{ID: 1, Hash: seal[:]})
			d := expectMsg[*wire.Done](p)
			if d.ID != 1 || d.Code != tt.wantCode {
				t.Errorf("got Done{ID: %d, Code: %v, Msg: %q}, want ID 1, code %v", d.ID, d.Code, d.Msg, tt.wantCode)
			}
			if _, err := os.Lstat(filepath.Join(ts.root, name)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("final file: got %v, want it not to exist", err)
			}
			part := filepath.Join(ts.root, xfer.PartName(name))
			fi, err := os.Lstat(part)
			switch {
			case tt.wantPart == -1 && !errors.Is(err, fs.ErrNotExist):
				t.Errorf(".part: got %v, want it removed", err)
			case tt.wantPart >= 0 && err != nil:
				t.Errorf(".part: got %v, want it kept", err)
			case tt.wantPart >= 0 && fi.Size() != int64(tt.wantPart):
				t.Errorf(".part: got %d bytes, want %d", fi.Size(), tt.wantPart)
			}
			if n := ts.srv.Transfers().Len(); n != 0 {
				t.Errorf("server table: got %d live transfers after Done, want 0", n)
			}
			p.close()
			checkServes(t, ts)
		})
	}
}

// TestRawUnknownTransfer opens data streams that belong to no live push.
// The server must stop each with UnknownTransfer, promptly when the id is
// settled, and keep the session.
func TestRawUnknownTransfer(t *testing.T) {
	ts := startServer(t, ServerConfig{}, nil) // StreamWait 30s, far above rawTimeout
	if err := os.WriteFile(filepath.Join(ts.root, "pull.bin"), make([]byte, 10), 0o644); err != nil {
		t.Fatal(err)
	}
	tsShort := startServer(t, ServerConfig{StreamWait: 200 * time.Millisecond}, nil)
	tests := []struct {
		name  string
		ts    *testServer
		setup func(t *testing.T, p *rawPeer) uint64 // returns the id to open a stream for
	}{
		{"never requested id", tsShort, func(t *testing.T, p *rawPeer) uint64 { return 1000 }},
		{"id of an answered list", ts, func(t *testing.T, p *rawPeer) uint64 {
			p.send(&wire.List{ID: 1, Path: "."})
			expectMsg[*wire.ListResult](p)
			return 1
		}},
		{"id of an answered stat", ts, func(t *testing.T, p *rawPeer) uint64 {
			p.send(&wire.Stat{ID: 1, Path: "."})
			expectMsg[*wire.StatResult](p)
			return 1
		}},
		{"id of a mkdir", ts, func(t *testing.T, p *rawPeer) uint64 {
			p.send(&wire.Mkdir{ID: 2, Path: "made", Mode: 0o755})
			expectMsg[*wire.OK](p)
			return 2
		}},
		{"id of a refused put", ts, func(t *testing.T, p *rawPeer) uint64 {
			p.send(&wire.Put{ID: 1, Path: "../x", Size: 1, MTime: time.Now()})
			expectMsg[*wire.Reject](p)
			return 1
		}},
		{"id of a finished put", ts, func(t *testing.T, p *rawPeer) uint64 {
			data := []byte("0123456789")
			p.send(&wire.Put{ID: 1, Path: "finished.txt", Size: uint64(len(data)), MTime: time.Now(), Flags: wire.FlagForce})
			expectMsg[*wire.Accept](p)
			p.sendFile(1, data, sha256.Sum256(data))
			if d := expectMsg[*wire.Done](p); d.Code != CodeOK {
				t.Fatalf("push: got code %v, want %v", d.Code, CodeOK)
			}
			return 1
		}},
		{"id of a pull", ts, func(t *testing.T, p *rawPeer) uint64 {
			p.send(&wire.Get{ID: 7, Path: "pull.bin"})
			expectMsg[*wire.FileInfo](p)
			return 7
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := dialRaw(t, tt.ts)
			p.hello()
			id := tt.setup(t, p)
			ws := p.openRange(id, 0, 1)
			if got := stopCode(t, ws); got != CodeUnknownTransfer {
				t.Errorf("stream for id %d stopped with %v, want %v", id, got, CodeUnknownTransfer)
			}
			// The session goes on.
			p.send(&wire.List{ID: 5000, Path: "."})
			if r := expectMsg[*wire.ListResult](p); r.ID != 5000 {
				t.Errorf("got ListResult for id %d, want 5000", r.ID)
			}
			p.close()
			checkServes(t, tt.ts)
		})
	}
}

// TestRawDuplicatePut offers the same destination twice while the first
// push is still receiving.
func TestRawDuplicatePut(t *testing.T) {
	ts := startServer(t, ServerConfig{}, nil)
	const size = 4 << 20
	data := writeRandom(t, filepath.Join(t.TempDir(), "src"), size)
	p := dialRaw(t, ts)
	p.hello()
	put := &wire.Put{ID: 1, Path: "dup.bin", Size: size, Mode: 0o600, MTime: fileTime(3)}
	p.send(put)
	expectMsg[*wire.Accept](p)
	ws := p.openRange(1, 0, size)
	if _, err := ws.Write(data[:1<<20]); err != nil {
		t.Fatal(err)
	}
	waitReceived(t, ts, "dup.bin", 1<<20)

	// The same session offers it again.
	put2 := *put
	put2.ID = 2
	p.send(&put2)
	if r := expectMsg[*wire.Reject](p); r.ID != 2 || r.Code != CodeBusy {
		t.Errorf("second put: got Reject{ID: %d, Code: %v}, want ID 2, code %v", r.ID, r.Code, CodeBusy)
	}
	// So does another client.
	c := ts.dial(t, "")
	local := filepath.Join(t.TempDir(), "dup.bin")
	writeRandom(t, local, 1000)
	rep, err := c.Push(testCtx(t), []string{local}, ".", Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, "other client", rep, 1, Failed)
	if e := fileError(t, rep.Files[0]); e.Code != CodeBusy {
		t.Errorf("other client: got code %v (%v), want %v", e.Code, e, CodeBusy)
	}
	// The .part is preallocated at full size: its first MiB must still be
	// the first push's.
	part := filepath.Join(ts.root, xfer.PartName("dup.bin"))
	if got, err := os.ReadFile(part); err != nil || len(got) != size || !bytes.Equal(got[:1<<20], data[:1<<20]) {
		t.Errorf(".part of the first push: got %d bytes, %v, want %d with the first MiB untouched", len(got), err, size)
	}

	// The first push completes undisturbed.
	sum := sha256.Sum256(data)
	if _, err := ws.Write(data[1<<20:]); err != nil {
		t.Fatal(err)
	}
	ws.Close()
	p.send(&wire.Seal{ID: 1, Hash: sum[:]})
	if d := expectMsg[*wire.Done](p); d.ID != 1 || d.Code != CodeOK {
		t.Errorf("first push: got Done{ID: %d, Code: %v, Msg: %q}, want ID 1, %v", d.ID, d.Code, d.Msg, CodeOK)
	}
	sameFile(t, filepath.Join(ts.root, "dup.bin"), data)
	noParts(t, ts.root)
	p.close()
	checkServes(t, ts)
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

package session

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go/quicvarint"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

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
			// The List's type and length take a byte each: its payload
			// follows them, and one byte more is the trailing one.
			payload := wire.AppendFrame(nil, &wire.List{ID: 1, Path: "."})[2:]
			b := frameHeader(wire.FrameTypeList, uint64(len(payload)+1))
			p.sendBytes(append(append(b, payload...), 0))
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
			p.expectClosedWith(tt.wantClose)
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
		body     func(data []byte, sum []byte) ([]byte, []byte)
		wantCode ErrorCode
		wantPart int // size of the .part file kept (preallocated), -1 for none, -2 unchecked
	}{
		{"truncated body", func(d []byte, s []byte) ([]byte, []byte) { return d[:size/2], s }, CodeTruncated, size},
		// Nothing was written: no record could describe the .part, which
		// is removed rather than left holding the file's space (issue 13,
		// class 9).
		{"empty stream", func(d []byte, s []byte) ([]byte, []byte) { return nil, s }, CodeTruncated, -1},
		{"one byte too many", func(d []byte, s []byte) ([]byte, []byte) { return slices.Concat(d, []byte{0}), s }, CodeTooLong, -2},
		{"extra block", func(d []byte, s []byte) ([]byte, []byte) { return slices.Concat(d, d[:40]), s }, CodeTooLong, -2},
		{"wrong hash", func(d []byte, s []byte) ([]byte, []byte) { s[len(s)-1] ^= 1; return d, s }, CodeHashMismatch, -1},
		{"corrupted byte", func(d []byte, s []byte) ([]byte, []byte) {
			c := slices.Clone(d)
			c[1234] ^= 0x80
			return c, s
		}, CodeHashMismatch, -1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "raw" + string(rune('a'+i)) + ".bin"
			data := testutil.WriteRandom(t, filepath.Join(t.TempDir(), "src"), size)
			p := dialRaw(t, ts)
			p.hello()
			p.send(&wire.Put{ID: 1, Path: name, Size: size, Mode: 0o644, MTime: fileTime(0)})
			if a := expectMsg[*wire.Accept](p); a.ID != 1 || len(a.Have) != 0 || a.Flags != 0 {
				t.Fatalf("got %+v, want Accept{ID: 1} holding nothing", a)
			}
			body, seal := tt.body(data, xfer.FileHash(data))
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
			p.sendFile(1, data, xfer.FileHash(data))
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
	data := testutil.WriteRandom(t, filepath.Join(t.TempDir(), "src"), size)
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
	testutil.WriteRandom(t, local, 1000)
	rep, err := c.Push(testCtx(t), []string{local}, ".", Options{})
	checkReport(t, "other client", rep, err, 1, Failed)
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
	sum := xfer.FileHash(data)
	if _, err := ws.Write(data[1<<20:]); err != nil {
		t.Fatal(err)
	}
	ws.Close()
	p.send(&wire.Seal{ID: 1, Hash: sum[:]})
	if d := expectMsg[*wire.Done](p); d.ID != 1 || d.Code != CodeOK {
		t.Errorf("first push: got Done{ID: %d, Code: %v, Msg: %q}, want ID 1, %v", d.ID, d.Code, d.Msg, CodeOK)
	}
	testutil.SameFile(t, filepath.Join(ts.root, "dup.bin"), data)
	testutil.NoPartials(t, ts.root)
	p.close()
	checkServes(t, ts)
}

// offerStriped offers remote (size bytes, FlagForce) to the server by
// hand and returns the request's id and waiter once the server has
// answered Accept. The caller must call c.done(id, w).
func offerStriped(t *testing.T, c *clientConn, remote string, meta xfer.FileMeta) (uint64, *waiter) {
	t.Helper()
	put := &wire.Put{Path: remote, Size: meta.Size, Mode: uint32(meta.Mode), MTime: meta.MTime, Flags: wire.FlagForce}
	id, w, err := c.request(func(id uint64) wire.Message { put.ID = id; return put })
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	msg, err := c.await(longCtx(t), w)
	if err != nil {
		c.done(id, w)
		t.Fatalf("put: %v", err)
	}
	if _, ok := msg.(*wire.Accept); !ok {
		c.done(id, w)
		t.Fatalf("put: got %s, want accept", msg.Type())
	}
	return id, w
}

// awaitVerdict waits for the server's final answer on w, skipping acks.
func awaitVerdict(t *testing.T, c *clientConn, w *waiter) wire.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		msg, err := c.await(ctx, w)
		if err != nil {
			t.Fatalf("waiting for the verdict: %v", err)
		}
		switch msg.(type) {
		case *wire.Ack:
			continue
		case *wire.Done, *wire.Reject:
			return msg
		}
		t.Fatalf("waiting for the verdict: got %s", msg.Type())
	}
}

// writeRange opens a range stream on m and writes the header of range
// [offset, offset+length) of request id, then body, whatever its length.
func writeRange(t *testing.T, m *xfer.Member, id, offset, length uint64, body []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, err := m.Conn.OpenUniStreamSync(ctx)
	if err != nil {
		t.Fatalf("open range stream: %v", err)
	}
	ws.Write(wire.AppendRangeHeader(nil, wire.RangeHeader{ID: id, Offset: offset, Length: length}))
	ws.Write(body) // the server may stop the stream at once
	ws.Close()
}

// TestPoolBadRange sends a striped file that breaks the rules, over a
// pool connection: a range past the end of the file, a range stream
// longer than its header says, and a Seal with the wrong hash. The server
// fails that file alone, with the code that says why, leaves the
// destination and every other file alone, and the session goes on. On
// each store (on S3 the file is one part: ranges may be cut anywhere).
func TestPoolBadRange(t *testing.T) {
	const size = 3 << 20
	tests := []struct {
		name string
		// send delivers the file of request id from f, wrongly.
		send     func(t *testing.T, c *clientConn, id uint64, f *os.File, meta xfer.FileMeta, w *waiter) wire.Message
		code     ErrorCode
		partGone bool // the .part is known bad and removed
	}{
		{
			name: "range past the end",
			send: func(t *testing.T, c *clientConn, id uint64, f *os.File, meta xfer.FileMeta, w *waiter) wire.Message {
				writeRange(t, poolMembers(c)[0], id, size-10, 100, make([]byte, 100))
				return awaitVerdict(t, c, w)
			},
			code: CodeProtocolViolation,
		},
		{
			name: "stream longer than its range",
			send: func(t *testing.T, c *clientConn, id uint64, f *os.File, meta xfer.FileMeta, w *waiter) wire.Message {
				writeRange(t, poolMembers(c)[0], id, 0, 1<<20, make([]byte, 1<<20+1))
				return awaitVerdict(t, c, w)
			},
			code:     CodeTooLong,
			partGone: true,
		},
		{
			name: "seal with a wrong hash",
			send: func(t *testing.T, c *clientConn, id uint64, f *os.File, meta xfer.FileMeta, w *waiter) wire.Message {
				sd := xfer.NewSender(xfer.SenderConfig{
					ID: id, Path: "keep/victim.bin", File: f, Meta: meta, Lanes: c.lanes,
					Seal: func(h []byte) error {
						bad := bytes.Clone(h)
						bad[0] ^= 0xff
						return c.cmd.send(&wire.Seal{ID: id, Hash: bad})
					},
					Ended: c.closed, EndErr: c.Err,
				})
				msg, err := sd.Run(longCtx(t), xfer.Offer{}, w.msgs, nil)
				if err != nil {
					t.Fatalf("send: %v", err)
				}
				return msg
			},
			code:     CodeHashMismatch,
			partGone: true,
		},
	}
	forEachStore(t, ServerConfig{}, func(t *testing.T, e *storeEnv) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ts := e.another(t, ServerConfig{})
				old := randomBytes(t, 64<<10)
				e.put(t, "keep/victim.bin", old, 0o644, time.Unix(1e9, 0))
				e.put(t, "keep/sibling.bin", randomBytes(t, 64<<10), 0o644, time.Unix(1e9, 0))
				e.put(t, "other/file.bin", randomBytes(t, 1<<10), 0o644, time.Unix(1e9, 0))
				// What a failed push may leave: a .part and its record
				// (POSIX), a state object (S3); checked apart.
				snapshot := func() map[string]string {
					m := snapshotTree(t, e.dir)
					maps.DeleteFunc(m, func(k, _ string) bool { return strings.Contains(k, ".qxfer") })
					return m
				}
				before := snapshot()
				c := dialPool(t, ts, "", PoolConfig{Size: 2})
				src := t.TempDir()
				data := testutil.WriteRandom(t, filepath.Join(src, "victim.bin"), size)
				f, err := os.Open(filepath.Join(src, "victim.bin"))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				meta := metaOfFile(t, filepath.Join(src, "victim.bin"))

				id, w := offerStriped(t, c, "keep/victim.bin", meta)
				msg := tt.send(t, c, id, f, meta, w)
				c.done(id, w)
				done, ok := msg.(*wire.Done)
				if !ok || done.Code != tt.code {
					t.Fatalf("verdict: got %s %+v, want done with %s", msg.Type(), msg, tt.code)
				}
				t.Logf("verdict: %s: %s", done.Code, done.Msg)
				testutil.Eventually(t, 5*time.Second, "the server to end the push", func() bool { return ts.srv.Transfers().Len() == 0 })

				if after := snapshot(); !maps.Equal(after, before) {
					t.Errorf("server tree changed by a failed push:\ngot  %v\nwant %v", treeKeys(after), treeKeys(before))
				}
				e.sameFile(t, "keep/victim.bin", old)
				if tt.partGone {
					e.noPartials(t)
				}

				if err := c.Err(); err != nil {
					t.Fatalf("session: got %v, want it alive", err)
				}
				rep, err := c.Push(longCtx(t), []string{filepath.Join(src, "victim.bin")}, "keep", Options{Force: true})
				checkOK(t, "push after the failure", rep, err)
				e.sameFile(t, "keep/victim.bin", data)
				e.noPartials(t)
			})
		}
	})
}

// treeKeys lists the paths of a snapshotTree, sorted.
func treeKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

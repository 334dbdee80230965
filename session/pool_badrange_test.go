package session

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

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

package session

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/qxfer/qxfer/internal/udpproxy"
	"github.com/qxfer/qxfer/quicx"
	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// poolRate is the link rate of the pool failure tests: 80 Mbit/s moves
// 24 MiB in about 2.5 s, time enough to break something in the middle of
// a file by polling its progress.
const poolRate = 80e6

// poolMembers returns the pool connections of c (not the primary).
func poolMembers(c *Client) []*xfer.Member {
	c.pool.mu.Lock()
	defer c.pool.mu.Unlock()
	return append([]*xfer.Member(nil), c.pool.members...)
}

// busyLanes counts the lanes taken on the connections of l.
func busyLanes(l *xfer.Lanes) int { return l.Busy() }

// serverSessionOf returns the server side of c's session.
func serverSessionOf(t testing.TB, ts *testServer, c *Client) *serverSession {
	t.Helper()
	ts.srv.poolMu.Lock()
	defer ts.srv.poolMu.Unlock()
	ss := ts.srv.pools[string(c.welcome.Token)]
	if ss == nil {
		t.Fatalf("server: no session with the client's token")
	}
	return ss
}

// liveBytes returns the bytes moved so far by the live transfer of path
// in tb, or -1 if there is none.
func liveBytes(tb *Table, path string) int64 {
	if i, ok := liveInfo(tb, func(i TransferInfo) bool { return i.Path == path }); ok {
		return i.Bytes
	}
	return -1
}

// transferAsync runs f on c in a goroutine; the result arrives on the
// channel.
func transferAsync(ctx context.Context, c *Client, f transferFunc) <-chan pushResult {
	res := make(chan pushResult, 1)
	go func() {
		rep, err := f(ctx, c)
		res <- pushResult{rep, err}
	}()
	return res
}

// abandonMember drops a connection as a crash or a dead network would: the
// peer is not told.
func abandonMember(m *xfer.Member) { m.Conn.(*quicx.Conn).Abandon() }

// closeMember closes a connection with CodeOK: the peer learns at once.
func closeMember(m *xfer.Member) { m.Conn.(*quicx.Conn).Close(quic.ApplicationErrorCode(CodeOK), "") }

// TestPoolMemberLost kills one pool connection in the middle of a striped
// file, either silently or with a close the peer sees: its ranges move to
// the other connections, the file arrives identical, the pool goes on
// with one connection less and the session is not lost.
func TestPoolMemberLost(t *testing.T) {
	const (
		size = 24 << 20
		name = "big.bin"
	)
	tests := []struct {
		name string
		dir  Direction
		kill func(*xfer.Member)
	}{
		{name: "push/abandon", dir: Push, kill: abandonMember},
		{name: "push/close", dir: Push, kill: closeMember},
		{name: "pull/close", dir: Pull, kill: closeMember},
		// The server sends the pull's ranges on a connection whose
		// death it cannot see before its idle timeout.
		{name: "pull/abandon", dir: Pull, kill: abandonMember},
	}
	// The file takes 2.5 s at poolRate (a few more on a loaded machine);
	// the ranges of the dead connection must be sent again without
	// waiting for an idle timeout of 30 s (the default).
	const within = 15 * time.Second
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := runtime.NumGoroutine()
			ts := startServer(t, ServerConfig{}, nil)
			p := throttledProxy(t, ts, udpproxy.Config{RateBits: poolRate, Delay: 2 * time.Millisecond})
			c := dialPool(t, ts, p.Addr().String(), PoolConfig{Size: 4})
			if got := c.PoolSize(); got != 4 {
				t.Fatalf("pool size: got %d, want 4", got)
			}
			local := t.TempDir()
			srcDir, dstDir := receiverDirs(tt.dir, ts, local)
			data := writeRandom(t, filepath.Join(srcDir, name), size)
			// The receiver's table counts the bytes it has written.
			progress := func() int64 { return liveBytes(ts.srv.Transfers(), name) }
			if tt.dir == Pull {
				progress = func() int64 { return liveBytes(c.Transfers(), name) }
			}

			res := transferAsync(longCtx(t), c, transferOf(tt.dir, local, name, Options{}))
			pollCond(t, hangAfter, "a quarter of the file at the receiver", func() bool { return progress() >= size/4 })
			victim := poolMembers(c)[0]
			tt.kill(victim)
			killed := time.Now()
			if got := progress(); got >= size {
				t.Fatalf("the file was complete (%d bytes) when the connection died; slow the proxy down", got)
			}
			pollCond(t, 10*time.Second, "the pool to lose the connection", func() bool { return c.PoolSize() == 3 })
			// The server lets go of it too, well before its idle
			// timeout: the client tells it when it sees a pool
			// connection die.
			pollCond(t, 10*time.Second, "the server to drop the dead connection", func() bool { return ts.srv.Sessions() == 3 })

			var r pushResult
			select {
			case r = <-res:
			case <-time.After(within):
				t.Fatalf("%s: not done %s after a pool connection died (%d of %d bytes at the receiver), want the ranges it carried sent again at once, "+
					"not after the sender's QUIC idle timeout (30 s by default)", tt.dir, within, progress(), size)
			}
			took := time.Since(killed)
			if r.err != nil {
				t.Fatalf("%s: %v", tt.dir, r.err)
			}
			f := fileByPath(t, r.rep, name)
			if f.State != Done {
				t.Fatalf("got state %s (err %v), want done", f.State, f.Err)
			}
			t.Logf("done %s after the kill, %d bytes counted for %d", took.Round(time.Millisecond), f.Bytes, size)
			if tt.dir == Push && (f.Bytes < size || f.Bytes > size+resendSlack) {
				// The ranges in flight on the dead connection
				// are sent, and counted, twice.
				t.Errorf("got %d bytes counted, want %d plus at most %d sent twice", f.Bytes, size, resendSlack)
			}
			sameFile(t, filepath.Join(dstDir, name), data)
			noPartials(t, dstDir)
			if got := c.PoolSize(); got != 3 {
				t.Errorf("pool size after the transfer: got %d, want 3", got)
			}
			senderLanes := c.lanes
			if tt.dir == Pull {
				senderLanes = serverSessionOf(t, ts, c).lanes
			}
			if n := busyLanes(senderLanes); n != 0 {
				t.Errorf("%s sender: got %d lanes still taken after the file, want 0", tt.dir, n)
			}
			for _, m := range c.lanes.Live() {
				if m == victim {
					t.Errorf("the dead connection is still among the live lanes")
				}
			}
			if err := c.Err(); err != nil {
				t.Fatalf("session: got %v, want it alive", err)
			}
			if _, err := c.Stat(longCtx(t), name); err != nil {
				t.Fatalf("stat after the transfer: %v", err)
			}

			c.Close()
			p.Close()
			ts.stop()
			checkGoroutines(t, base)
		})
	}
}

// TestPoolCancelOneFile cancels one of three striped files moving at
// once: its ranges stop on every connection of the pool, the server lets
// go of it and keeps its partial file for a resume, the other two arrive
// identical, and every lane it held is given back.
func TestPoolCancelOneFile(t *testing.T) {
	const size = 16 << 20
	base := runtime.NumGoroutine()
	ts := startServer(t, ServerConfig{}, nil)
	p := throttledProxy(t, ts, udpproxy.Config{RateBits: poolRate})
	c := dialPool(t, ts, p.Addr().String(), PoolConfig{Size: 4})
	ctx := longCtx(t)

	src := t.TempDir()
	names := []string{"a.bin", "b.bin", "c.bin"}
	data := make(map[string][]byte)
	var sources []string
	for _, n := range names {
		data[n] = writeRandom(t, filepath.Join(src, n), size)
		sources = append(sources, filepath.Join(src, n))
	}
	const victim = "in/b.bin"

	ev := newTransferEvents()
	res := pushAsync(ctx, c, sources, "in", Options{Parallel: 3, Observer: ev.observe})
	start := ev.waitStarted(t, victim, 30*time.Second)
	var st *Transfer // the server's side of the victim
	pollCond(t, hangAfter, "2 MiB of "+victim+" on the server", func() bool {
		st = ts.srv.Transfers().lookup(Push, victim)
		return st != nil && st.bytes.Load() >= 2<<20
	})
	if !c.Transfers().Cancel(start.ID) {
		t.Fatalf("Cancel(%d): got false, want true (transfer still live)", start.ID)
	}
	select {
	case <-st.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("server: %s still live 10s after the cancel", victim)
	}
	if got := st.Info(); got.State != Cancelled || !errors.Is(got.Err, ErrCancelled) {
		t.Errorf("server: got %s ended %s (%v), want cancelled", victim, got.State, got.Err)
	}
	if _, ok := liveInfo(ts.srv.Transfers(), func(i TransferInfo) bool { return i.Path == victim }); ok {
		t.Errorf("server table: got %s still listed after it ended, want it gone", victim)
	}
	before := st.bytes.Load()
	time.Sleep(300 * time.Millisecond)
	if after := st.bytes.Load(); after != before {
		t.Errorf("server: %s got %d more bytes in the 300 ms after it ended, want none", victim, after-before)
	}
	if before >= size {
		t.Fatalf("server: %s had all %d bytes when cancelled; slow the proxy down", victim, before)
	}

	// The other two files have at most 32 MiB left: 3.5 s at poolRate.
	var rep *Report
	select {
	case r := <-res:
		if r.err != nil {
			t.Fatalf("push: %v", r.err)
		}
		rep = r.rep
	case <-time.After(20 * time.Second):
		t.Fatalf("push: the two files left not done 20 s after the cancel, with %d of %d lanes taken, want done: "+
			"the lanes of the cancelled file's ranges in flight must be given back to the others", busyLanes(c.lanes), 4*xfer.LanesPerConn)
	}
	if got, want := len(rep.Files), 3; got != want {
		t.Fatalf("report: got %d files, want %d", got, want)
	}
	for _, n := range names {
		f := fileByPath(t, rep, "in/"+n)
		if f.Path == victim {
			if f.State != Cancelled || codeOfErr(f.Err) != CodeCancelled {
				t.Errorf("%s: got state %s (err %v), want cancelled with %s", f.Path, f.State, f.Err, CodeCancelled)
			}
			continue
		}
		if f.State != Done {
			t.Errorf("%s: got state %s (err %v), want done", f.Path, f.State, f.Err)
		}
		sameFile(t, filepath.Join(ts.root, "in", n), data[n])
	}
	if _, err := os.Stat(filepath.Join(ts.root, "in", "b.bin")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cancelled file under its final name: got stat error %v, want not-exist", err)
	}
	if _, err := os.Stat(filepath.Join(ts.root, "in", ".b.bin.qxfer.part")); err != nil {
		t.Errorf("cancelled file's .part: got %v, want it kept for a resume", err)
	}
	if rec := readRecord(t, ts.root, victim); rec == nil || rec.Version != xfer.RecordVersion || len(rec.Ranges) == 0 {
		t.Errorf("cancelled file's resume record: got %+v, want a version %d record with ranges", rec, xfer.RecordVersion)
	}

	// Every lane the three files took has been given back.
	if n := busyLanes(c.lanes); n != 0 {
		t.Errorf("client: got %d lanes still taken after the batch, want 0 (the cancelled file's ranges in flight must give theirs back)", n)
	}
	// The pool still carries a file from end to end.
	again := writeRandom(t, filepath.Join(src, "d.bin"), 4<<20)
	rep2 := waitPush(t, pushAsync(ctx, c, []string{filepath.Join(src, "d.bin")}, "in", Options{}), 20*time.Second)
	if f := fileByPath(t, rep2, "in/d.bin"); f.State != Done {
		t.Fatalf("push after the cancel: got state %s (err %v), want done", f.State, f.Err)
	}
	sameFile(t, filepath.Join(ts.root, "in", "d.bin"), again)

	c.Close()
	p.Close()
	ts.stop()
	checkGoroutines(t, base)
}

// TestPoolCancelReleasesLanes cancels a striped file while all the lanes
// of a two-connection pool carry its ranges, then moves another file in
// the same session: the lanes of the cancelled file's ranges must come
// back, or the sender (the client in a push, the server in a pull) has no
// connection left to send on and the next file never moves.
func TestPoolCancelReleasesLanes(t *testing.T) {
	const (
		size = 24 << 20
		name = "big.bin"
		next = "next.bin"
	)
	for _, dir := range []Direction{Push, Pull} {
		t.Run(dir.String(), func(t *testing.T) {
			ts := startServer(t, ServerConfig{}, nil)
			p := throttledProxy(t, ts, udpproxy.Config{RateBits: poolRate})
			c := dialPool(t, ts, p.Addr().String(), PoolConfig{Size: 2})
			local := t.TempDir()
			srcDir, dstDir := receiverDirs(dir, ts, local)
			writeRandom(t, filepath.Join(srcDir, name), size)
			want := writeRandom(t, filepath.Join(srcDir, next), 2<<20)
			// The sender's lanes: the client's in a push, those of
			// the server's side of the session in a pull.
			senderLanes := c.lanes
			if dir == Pull {
				senderLanes = serverSessionOf(t, ts, c).lanes
			}

			res := transferAsync(longCtx(t), c, transferOf(dir, local, name, Options{}))
			var id uint64
			pollCond(t, hangAfter, "2 MiB at the receiver", func() bool {
				i, ok := liveInfo(c.Transfers(), func(i TransferInfo) bool { return i.Path == name })
				id = i.ID
				return ok && i.Bytes >= 2<<20
			})
			if !c.Transfers().Cancel(id) {
				t.Fatalf("Cancel(%d): got false, want true", id)
			}
			if f := fileByPath(t, waitPush(t, res, hangAfter), name); f.State != Cancelled {
				t.Fatalf("got state %s (err %v), want cancelled", f.State, f.Err)
			}
			pollCond(t, 10*time.Second, "the server to end the cancelled transfer", func() bool {
				ss := serverSessionOf(t, ts, c)
				ss.mu.Lock()
				defer ss.mu.Unlock()
				return ts.srv.Transfers().Len() == 0 && len(ss.active) == 0
			})
			held := -1
			for range 100 {
				if held = busyLanes(senderLanes); held == 0 {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if held != 0 {
				t.Errorf("%s sender: got %d of %d lanes still taken 2s after the cancel, want 0 (the ranges in flight must give theirs back)",
					dir, held, 2*xfer.LanesPerConn)
			}

			// 2 MiB take a quarter of a second at poolRate.
			const bound = 10 * time.Second
			ctx, cancel := context.WithTimeout(context.Background(), bound)
			defer cancel()
			rep, err := transferOf(dir, local, next, Options{})(ctx, c)
			if err != nil {
				t.Fatalf("%s after the cancel: %v", dir, err)
			}
			if f := fileByPath(t, rep, next); f.State != Done {
				t.Fatalf("%s of a 2 MiB file after the cancel: not done within %s (state %s, %d bytes moved), want done; %d lanes taken",
					dir, bound, f.State, f.Bytes, busyLanes(senderLanes))
			}
			sameFile(t, filepath.Join(dstDir, next), want)
		})
	}
}

// TestPoolStripedResume cuts a striped push in the middle and pushes the
// file again from a new pooled client of the same identity: the server
// kept a version 2 resume record of the ranges it holds, and the second
// run sends only the others. A source rewritten in place with the same
// size and mtime is caught by the whole-file hash and sent again from
// zero: the result is the new content, never a splice.
func TestPoolStripedResume(t *testing.T) {
	const (
		size = 24 << 20
		name = "big.bin"
	)
	tests := []struct {
		name   string
		change bool // rewrite the source between the runs, keeping size and mtime
	}{
		{name: "same source"},
		{name: "source changed, same size and mtime", change: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, ServerConfig{}, nil)
			p := throttledProxy(t, ts, udpproxy.Config{RateBits: poolRate})
			id := newIdentity(t)
			src := t.TempDir()
			path := filepath.Join(src, name)
			want := writeRandom(t, path, size)
			m := metaOfFile(t, path)

			c1 := dialPoolAs(t, ts, id, p.Addr().String(), PoolConfig{Size: 4})
			res := transferAsync(longCtx(t), c1, transferOf(Push, src, name, Options{}))
			pollCond(t, hangAfter, "half the file on the server", func() bool { return liveBytes(ts.srv.Transfers(), name) >= size/2 })
			i, ok := liveInfo(c1.Transfers(), func(i TransferInfo) bool { return i.Path == name })
			if !ok || !c1.Transfers().Cancel(i.ID) {
				t.Fatalf("cancel: no live push of %s on the client", name)
			}
			if f := fileByPath(t, waitPush(t, res, hangAfter), name); f.State != Cancelled {
				t.Fatalf("first run: got state %s (err %v), want cancelled", f.State, f.Err)
			}
			pollCond(t, 10*time.Second, "the server to end the cancelled push", func() bool { return ts.srv.Transfers().Len() == 0 })
			c1.Close()

			raw, err := os.ReadFile(filepath.Join(ts.root, xfer.RecordName(name)))
			if err != nil {
				t.Fatalf("resume record: %v", err)
			}
			if !strings.Contains(string(raw), `"v":2`) || !strings.Contains(string(raw), `"ranges":`) {
				t.Fatalf("resume record: got %s, want version 2 with ranges", raw)
			}
			rec := readRecord(t, ts.root, name)
			if !rec.Matches(m) {
				t.Fatalf("resume record: got size %d mtime %d, want %d and %d", rec.Size, rec.MTime, m.Size, m.MTime.UnixNano())
			}
			held := rec.Held()
			durable := int64(held.Total())
			if durable < size/2 || durable >= size {
				t.Fatalf("resume record: got %d durable bytes in %d ranges, want at least the %d the server had written and less than %d",
					durable, len(rec.Ranges), size/2, size)
			}
			t.Logf("resume record: %d bytes in %d ranges", durable, len(rec.Ranges))

			if tt.change {
				want = bytes.Clone(want)
				for i := 0; i < size; i += 4096 {
					want[i] ^= 0x5a
				}
				if err := os.WriteFile(path, want, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(path, m.MTime, m.MTime); err != nil {
					t.Fatal(err)
				}
				if got := metaOfFile(t, path); got.Size != m.Size || !got.MTime.Equal(m.MTime) {
					t.Fatalf("rewritten source: got size %d mtime %v, want %d and %v", got.Size, got.MTime, m.Size, m.MTime)
				}
			}

			c2 := dialPoolAs(t, ts, id, p.Addr().String(), PoolConfig{Size: 4})
			f := onlyFile(t, "second run", transferOf(Push, src, name, Options{}), c2)
			if f.State != Done {
				t.Fatalf("second run: got state %s (err %v), want done", f.State, f.Err)
			}
			t.Logf("second run: %d bytes sent", f.Bytes)
			if tt.change {
				// The held ranges are of the old content: the
				// hash fails and the file is sent again whole.
				if f.Bytes < size {
					t.Errorf("second run: got %d bytes sent, want at least %d (sent again from zero)", f.Bytes, size)
				}
			} else if missing := size - durable; f.Bytes < missing || f.Bytes > missing+2<<20 {
				t.Errorf("second run: got %d bytes sent, want the %d the server lacked plus at most 2 MiB", f.Bytes, missing)
			}
			sameFile(t, filepath.Join(ts.root, name), want)
			sameMeta(t, filepath.Join(ts.root, name), m)
			noPartials(t, ts.root)
		})
	}
}

// offerStriped offers remote (size bytes, FlagForce) to the server by
// hand and returns the request's id and waiter once the server has
// answered Accept. The caller must call c.done(id, w).
func offerStriped(t *testing.T, c *Client, remote string, meta xfer.FileMeta) (uint64, *waiter) {
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
func awaitVerdict(t *testing.T, c *Client, w *waiter) wire.Message {
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
// destination and every other file alone, and the session goes on.
func TestPoolBadRange(t *testing.T) {
	const size = 3 << 20
	tests := []struct {
		name string
		// send delivers the file of request id from f, wrongly.
		send     func(t *testing.T, c *Client, id uint64, f *os.File, meta xfer.FileMeta, w *waiter) wire.Message
		code     ErrorCode
		partGone bool // the .part is known bad and removed
	}{
		{
			name: "range past the end",
			send: func(t *testing.T, c *Client, id uint64, f *os.File, meta xfer.FileMeta, w *waiter) wire.Message {
				writeRange(t, poolMembers(c)[0], id, size-10, 100, make([]byte, 100))
				return awaitVerdict(t, c, w)
			},
			code: CodeProtocolViolation,
		},
		{
			name: "stream longer than its range",
			send: func(t *testing.T, c *Client, id uint64, f *os.File, meta xfer.FileMeta, w *waiter) wire.Message {
				writeRange(t, poolMembers(c)[0], id, 0, 1<<20, make([]byte, 1<<20+1))
				return awaitVerdict(t, c, w)
			},
			code:     CodeTooLong,
			partGone: true,
		},
		{
			name: "seal with a wrong hash",
			send: func(t *testing.T, c *Client, id uint64, f *os.File, meta xfer.FileMeta, w *waiter) wire.Message {
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
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, ServerConfig{}, nil)
			old := writeRandom(t, filepath.Join(ts.root, "keep", "victim.bin"), 64<<10)
			writeRandom(t, filepath.Join(ts.root, "keep", "sibling.bin"), 64<<10)
			writeRandom(t, filepath.Join(ts.root, "other", "file.bin"), 1<<10)
			before := snapshotTree(t, ts.root)
			c := dialPool(t, ts, "", PoolConfig{Size: 2})
			src := t.TempDir()
			data := writeRandom(t, filepath.Join(src, "victim.bin"), size)
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
			pollCond(t, 5*time.Second, "the server to end the push", func() bool { return ts.srv.Transfers().Len() == 0 })

			after := snapshotTree(t, ts.root)
			maps.DeleteFunc(after, func(k, _ string) bool { return strings.Contains(k, ".qxfer.") })
			if !maps.Equal(after, before) {
				t.Errorf("server tree changed by a failed push:\ngot  %v\nwant %v", treeKeys(after), treeKeys(before))
			}
			sameFile(t, filepath.Join(ts.root, "keep", "victim.bin"), old)
			if tt.partGone {
				noPartials(t, ts.root)
			}

			if err := c.Err(); err != nil {
				t.Fatalf("session: got %v, want it alive", err)
			}
			rep, err := c.Push(longCtx(t), []string{filepath.Join(src, "victim.bin")}, "keep", Options{Force: true})
			if err != nil {
				t.Fatalf("push after the failure: %v", err)
			}
			if err := rep.Err(); err != nil {
				t.Fatalf("push after the failure: %v", err)
			}
			sameFile(t, filepath.Join(ts.root, "keep", "victim.bin"), data)
			noPartials(t, ts.root)
		})
	}
}

// treeKeys lists the paths of a snapshotTree, sorted.
func treeKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

// TestPoolReconnect blackholes the link of a pooled Session for longer
// than its idle timeout: every connection of the pool dies, the session
// dials again, forms a new pool of the same size, and the file resumes
// from the ranges the server holds.
func TestPoolReconnect(t *testing.T) {
	const (
		size = 24 << 20
		name = "big.bin"
	)
	ts := startServer(t, ServerConfig{}, nil)
	p := throttledProxy(t, ts, udpproxy.Config{RateBits: poolRate})
	id := newIdentity(t)
	qc := quicx.Config{IdleTimeout: time.Second, KeepAlive: 200 * time.Millisecond, HandshakeTimeout: 2 * time.Second}
	events := &eventLog{}
	dial := func(ctx context.Context, table *Table) (*Client, error) {
		cfg := clientConfig(t, ts, id, qc, table)
		cfg.Pool = PoolConfig{Size: 3}
		return Dial(ctx, p.Addr().String(), cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := NewSession(ctx, dial, SessionConfig{RetryFor: 30 * time.Second, OnEvent: events.add, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	defer s.Close()
	first := s.Client()
	if got := first.PoolSize(); got != 3 {
		t.Fatalf("pool size: got %d, want 3", got)
	}
	src := t.TempDir()
	data := writeRandom(t, filepath.Join(src, name), size)

	res := sessionPush(longCtx(t), s, []string{filepath.Join(src, name)}, Options{})
	// The server's transfers of the file, before and after the
	// reconnect, count the bytes it wrote.
	var before, after *Transfer
	pollCond(t, hangAfter, "a third of the file on the server", func() bool {
		before = ts.srv.Transfers().lookup(Push, name)
		return before != nil && before.bytes.Load() >= size/3
	})
	p.SetBlackhole(true)
	pollCond(t, hangAfter, "the session to start reconnecting", func() bool { return events.count(EventReconnecting) > 0 })
	if got := before.bytes.Load(); got >= size {
		t.Fatalf("the server had the whole file (%d bytes) when the link died; slow the proxy down", got)
	}
	if got := events.count(EventReconnected); got != 0 {
		t.Fatalf("got %d reconnections through a blackhole, want 0", got)
	}
	p.SetBlackhole(false)

	var r pushResult
	deadline := time.Now().Add(hangAfter)
wait:
	for {
		select {
		case r = <-res:
			break wait
		default:
		}
		if x := ts.srv.Transfers().lookup(Push, name); x != nil && x != before {
			after = x
		}
		if time.Now().After(deadline) {
			t.Fatalf("push did not return within %s of the link coming back", hangAfter)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if r.err != nil {
		t.Fatalf("push: %v", r.err)
	}
	f := fileByPath(t, r.rep, name)
	if f.State != Done {
		t.Fatalf("got state %s (err %v), want done", f.State, f.Err)
	}
	if after == nil {
		t.Fatalf("server: never saw the resumed push")
	}
	if got := s.Reconnects(); got < 1 {
		t.Errorf("got %d reconnects, want at least 1", got)
	}
	c := s.Client()
	if c == first {
		t.Errorf("the session still runs on its first client")
	}
	if got := c.PoolSize(); got != 3 {
		t.Errorf("pool size after reconnecting: got %d, want 3", got)
	}
	// The server wrote every byte at least once; those it wrote twice
	// are the ranges it held in part but had not checkpointed.
	written := before.bytes.Load() + after.bytes.Load()
	t.Logf("server wrote %d + %d bytes for %d: %d twice (%.1f%%); client counted %d",
		before.bytes.Load(), after.bytes.Load(), size, written-size, 100*float64(written-size)/float64(size), f.Bytes)
	if written < size || written > size+size/4 {
		t.Errorf("server: got %d bytes written in all for %d, want every byte once plus at most a quarter of the file again", written, size)
	}
	// The sender moved every byte at least once, so its count cannot be
	// below the size; above it are the bytes it sent twice.
	if f.Bytes > size+size/4 {
		t.Errorf("client: got %d bytes sent for %d, want at most a quarter of the file sent twice", f.Bytes, size)
	}
	if f.Bytes < size {
		t.Errorf("client: got %d bytes counted for a %d-byte file moved across a reconnect, want at least %d: "+
			"a range sent on a connection that died stays counted (the server may have kept it, and the resumed run skips it)", f.Bytes, size, size)
	}
	sameFile(t, filepath.Join(ts.root, name), data)
	noPartials(t, ts.root)
}

// TestPoolMigrate moves a pooled client to new sockets in the middle of a
// push: every connection of the pool migrates, none is lost, and every
// byte is sent once.
func TestPoolMigrate(t *testing.T) {
	const (
		size = 24 << 20
		name = "big.bin"
	)
	base := runtime.NumGoroutine()
	ts := startServer(t, ServerConfig{}, nil)
	p := throttledProxy(t, ts, udpproxy.Config{RateBits: poolRate})
	c := dialPool(t, ts, p.Addr().String(), PoolConfig{Size: 3})
	src := t.TempDir()
	data := writeRandom(t, filepath.Join(src, name), size)

	res := transferAsync(longCtx(t), c, transferOf(Push, src, name, Options{}))
	pollCond(t, hangAfter, "a quarter of the file on the server", func() bool { return liveBytes(ts.srv.Transfers(), name) >= size/4 })
	members := poolMembers(c)
	if len(members) != 2 {
		t.Fatalf("pool: got %d connections besides the primary, want 2", len(members))
	}
	conns := append([]*quicx.Conn{c.conn}, members[0].Conn.(*quicx.Conn), members[1].Conn.(*quicx.Conn))
	before := make([]string, len(conns))
	for i, qc := range conns {
		before[i] = qc.LocalUDPAddr().String()
	}
	if err := c.Migrate(longCtx(t), "127.0.0.1:0"); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if got := liveBytes(ts.srv.Transfers(), name); got >= size {
		t.Fatalf("the push was over (%d bytes) when the pool migrated; slow the proxy down", got)
	}
	for i, qc := range conns {
		if got := qc.Migrations(); got != 1 {
			t.Errorf("connection %d: got %d migrations, want 1", i, got)
		}
		if after := qc.LocalUDPAddr().String(); after == before[i] {
			t.Errorf("connection %d: still on %s, want a new socket", i, after)
		}
	}

	f := fileByPath(t, waitPush(t, res, hangAfter), name)
	if f.State != Done {
		t.Fatalf("got state %s (err %v), want done", f.State, f.Err)
	}
	if f.Bytes != size {
		t.Errorf("got %d bytes sent, want %d (each byte once: no connection was lost)", f.Bytes, size)
	}
	if err := c.Err(); err != nil {
		t.Errorf("session: got %v, want it alive", err)
	}
	if got := c.PoolSize(); got != 3 {
		t.Errorf("pool size after the migration: got %d, want 3", got)
	}
	sameFile(t, filepath.Join(ts.root, name), data)
	noPartials(t, ts.root)

	c.Close()
	p.Close()
	ts.stop()
	checkGoroutines(t, base)
}

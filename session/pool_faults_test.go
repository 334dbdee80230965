package session

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/internal/udpproxy"
	"github.com/qxfer/qxfer/quicx"
	"github.com/qxfer/qxfer/session/internal/store"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// abandonMember drops a connection as a crash or a dead network would: the
// peer is not told.
func abandonMember(m *xfer.Member) { m.Conn.(*quicx.Conn).Abandon() }

// closeMember closes a connection with CodeOK: the peer learns at once.
func closeMember(m *xfer.Member) { m.Conn.(*quicx.Conn).Close(quic.ApplicationErrorCode(CodeOK), "") }

// TestPoolMemberLost kills one pool connection in the middle of a striped
// file, either silently or with a close the peer sees, on each store: its
// ranges move to the other connections, the file arrives identical, the
// pool goes on with one connection less and the session is not lost.
func TestPoolMemberLost(t *testing.T) {
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
	forEachStore(t, ServerConfig{}, func(t *testing.T, e *storeEnv) {
		// The ranges in flight on the dead connection are sent, and
		// counted, twice: on S3 they are whole parts, at most the
		// window of them (PROTOCOL.md, "Part-aligned pushes").
		// The S3 variant moves three parts rather than poolFileSize (24
		// MiB), to keep the run short: still more parts than a
		// connection carries at once.
		size, slack := int64(poolFileSize), int64(resendSlack)
		if e.isS3() {
			size, slack = 3*testPartSize, store.DefaultWindow*testPartSize
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				base := runtime.NumGoroutine()
				ts := e.another(t, ServerConfig{})
				name := strings.ReplaceAll(tt.name, "/", "-") + ".bin"
				p := throttledProxy(t, ts, udpproxy.Config{RateBits: poolRate, Delay: 2 * time.Millisecond})
				c := dialPool(t, ts, p.Addr().String(), PoolConfig{Size: 4})
				if got := c.PoolSize(); got != 4 {
					t.Fatalf("pool size: got %d, want 4", got)
				}
				local := t.TempDir()
				var data []byte
				if tt.dir == Push {
					data = testutil.WriteRandom(t, filepath.Join(local, name), int(size))
				} else {
					data = randomBytes(t, int(size))
					e.put(t, name, data, 0o644, time.Unix(1e9, 0))
				}
				// The receiver's table counts the bytes it has written.
				progress := func() int64 { return liveBytes(ts.srv.Transfers(), name) }
				if tt.dir == Pull {
					progress = func() int64 { return liveBytes(c.Transfers(), name) }
				}

				res := transferAsync(longCtx(t), c, transferOf(tt.dir, local, name, Options{}))
				testutil.Eventually(t, hangAfter, "a quarter of the file at the receiver", func() bool { return progress() >= size/4 })
				victim := poolMembers(c)[0]
				tt.kill(victim)
				killed := time.Now()
				if got := progress(); got >= size {
					t.Fatalf("the file was complete (%d bytes) when the connection died; slow the proxy down", got)
				}
				testutil.Eventually(t, 10*time.Second, "the pool to lose the connection", func() bool { return c.PoolSize() == 3 })
				// The server lets go of it too, well before its idle
				// timeout: the client tells it when it sees a pool
				// connection die.
				testutil.Eventually(t, 10*time.Second, "the server to drop the dead connection", func() bool { return ts.srv.Sessions() == 3 })

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
				if tt.dir == Push && (f.Bytes < size || f.Bytes > size+slack) {
					t.Errorf("got %d bytes counted, want %d plus at most %d sent twice", f.Bytes, size, slack)
				}
				if tt.dir == Push {
					e.sameFile(t, name, data)
					e.noPartials(t)
				} else {
					testutil.SameFile(t, filepath.Join(local, name), data)
					testutil.NoPartials(t, local)
				}
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

				ts.stopAll(t, base, c, p)
			})
		}
	})
}

// TestPoolReconnect blackholes the link of a pooled Session for longer
// than its idle timeout: every connection of the pool dies, the session
// dials again, forms a new pool of the same size, and the file resumes
// from the ranges the server holds; on each store.
func TestPoolReconnect(t *testing.T) {
	forEachStore(t, ServerConfig{}, testPoolReconnect)
}

func testPoolReconnect(t *testing.T, e *storeEnv) {
	const size, name = poolFileSize, poolFile
	// What may be written twice: the ranges the server held in part but
	// had not checkpointed; on S3 the parts uploaded but not yet
	// recorded, at most the window of them (PROTOCOL.md, "Part-aligned
	// pushes").
	twice := int64(size / 4)
	if e.isS3() {
		twice = store.DefaultWindow * testPartSize
	}
	ts := e.another(t, ServerConfig{})
	p := throttledProxy(t, ts, udpproxy.Config{RateBits: poolRate})
	id := newIdentity(t)
	qc := quicx.Config{IdleTimeout: time.Second, KeepAlive: 200 * time.Millisecond, HandshakeTimeout: 2 * time.Second}
	events := &eventLog{}
	s := newPoolSession(t, ts, id, p.Addr().String(), qc, PoolConfig{Size: 3}, sessionConfig{RetryFor: 30 * time.Second, OnEvent: events.add})
	first := s.live()
	if got := first.PoolSize(); got != 3 {
		t.Fatalf("pool size: got %d, want 3", got)
	}
	src := t.TempDir()
	data := testutil.WriteRandom(t, filepath.Join(src, name), size)

	res := sessionPush(longCtx(t), s, []string{filepath.Join(src, name)}, Options{})
	// The server's transfers of the file, before and after the
	// reconnect, count the bytes it wrote.
	var before, after *Transfer
	testutil.Eventually(t, hangAfter, "a third of the file on the server", func() bool {
		before = ts.srv.Transfers().lookup(Push, name)
		return before != nil && before.bytes.Load() >= size/3
	})
	p.SetBlackhole(true)
	testutil.Eventually(t, hangAfter, "the session to start reconnecting", func() bool { return events.count(EventReconnecting) > 0 })
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
	c := s.live()
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
	if written < size || written > size+twice {
		t.Errorf("server: got %d bytes written in all for %d, want every byte once plus at most %d again", written, size, twice)
	}
	// The sender moved every byte at least once, so its count cannot be
	// below the size; above it are the bytes it sent twice.
	if f.Bytes > size+twice {
		t.Errorf("client: got %d bytes sent for %d, want at most %d sent twice", f.Bytes, size, twice)
	}
	if f.Bytes < size {
		t.Errorf("client: got %d bytes counted for a %d-byte file moved across a reconnect, want at least %d: "+
			"a range sent on a connection that died stays counted (the server may have kept it, and the resumed run skips it)", f.Bytes, size, size)
	}
	e.sameFile(t, name, data)
	e.noPartials(t)
}

// TestPoolCancelOneFile cancels one of three striped files moving at
// once: its ranges stop on every connection of the pool, the server lets
// go of it and keeps its partial file for a resume, the other two arrive
// identical, and every lane it held is given back; on each store.
func TestPoolCancelOneFile(t *testing.T) {
	forEachStore(t, ServerConfig{}, testPoolCancelOneFile)
}

func testPoolCancelOneFile(t *testing.T, e *storeEnv) {
	const size = 16 << 20
	base := runtime.NumGoroutine()
	ts := e.another(t, ServerConfig{})
	p := throttledProxy(t, ts, udpproxy.Config{RateBits: poolRate})
	c := dialPool(t, ts, p.Addr().String(), PoolConfig{Size: 4})
	ctx := longCtx(t)

	src := t.TempDir()
	names := []string{"a.bin", "b.bin", "c.bin"}
	data := make(map[string][]byte)
	var sources []string
	const victim = "in/b.bin"
	for _, n := range names {
		sz := size
		if "in/"+n == victim && e.isS3() {
			// On S3 the server takes up to the window of whole parts
			// (4 x 5 MiB here) ahead of the first it records: a 16 MiB
			// file could arrive whole before a part was recorded (CI,
			// on an idle machine). 12 parts cannot.
			sz = 12 * testPartSize
		}
		data[n] = testutil.WriteRandom(t, filepath.Join(src, n), sz)
		sources = append(sources, filepath.Join(src, n))
	}

	ev := newTransferEvents()
	res := pushAsync(ctx, c, sources, "in", Options{Parallel: 3, Observer: ev.observe})
	start := ev.waitStarted(t, victim, 30*time.Second)
	var st *Transfer // the server's side of the victim
	// On S3, the partial kept for a resume is the parts recorded in the
	// state object: wait for one.
	testutil.Eventually(t, hangAfter, "2 MiB of "+victim+" on the server (S3: one part recorded)", func() bool {
		st = ts.srv.Transfers().lookup(Push, victim)
		return st != nil && st.bytes.Load() >= 2<<20 && (!e.isS3() || e.durable(t, victim) > 0)
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
	if before >= int64(len(data["b.bin"])) {
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
		e.sameFile(t, "in/"+n, data[n])
	}
	if _, ok := e.meta(t, victim); ok {
		t.Errorf("cancelled file under its final name: got it, want none")
	}
	if e.isS3() {
		// The upload and its state object stay, with the parts.
		if n := e.durable(t, victim); n == 0 {
			t.Errorf("cancelled file's state object: got no recorded parts, want them kept for a resume")
		}
		if n := len(e.uploads(t)); n != 1 {
			t.Errorf("multipart uploads: got %d, want the cancelled file's kept for a resume", n)
		}
	} else {
		if _, err := os.Stat(filepath.Join(ts.root, "in", ".b.bin.qxfer.part")); err != nil {
			t.Errorf("cancelled file's .part: got %v, want it kept for a resume", err)
		}
		if rec := readRecord(t, ts.root, victim); rec == nil || rec.Version != xfer.RecordVersion || len(rec.Ranges) == 0 {
			t.Errorf("cancelled file's resume record: got %+v, want a version %d record with ranges", rec, xfer.RecordVersion)
		}
	}

	// Every lane the three files took has been given back.
	if n := busyLanes(c.lanes); n != 0 {
		t.Errorf("client: got %d lanes still taken after the batch, want 0 (the cancelled file's ranges in flight must give theirs back)", n)
	}
	// The pool still carries a file from end to end.
	again := testutil.WriteRandom(t, filepath.Join(src, "d.bin"), 4<<20)
	rep2 := waitPush(t, pushAsync(ctx, c, []string{filepath.Join(src, "d.bin")}, "in", Options{}), 20*time.Second)
	if f := fileByPath(t, rep2, "in/d.bin"); f.State != Done {
		t.Fatalf("push after the cancel: got state %s (err %v), want done", f.State, f.Err)
	}
	e.sameFile(t, "in/d.bin", again)

	ts.stopAll(t, base, c, p)
}

// TestPoolCancelReleasesLanes cancels a striped file while all the lanes
// of a two-connection pool carry its ranges, then moves another file in
// the same session: the lanes of the cancelled file's ranges must come
// back, or the sender (the client in a push, the server in a pull) has no
// connection left to send on and the next file never moves. On each
// store.
func TestPoolCancelReleasesLanes(t *testing.T) {
	const size = poolFileSize
	forEachStore(t, ServerConfig{}, func(t *testing.T, e *storeEnv) {
		for _, dir := range []Direction{Push, Pull} {
			t.Run(dir.String(), func(t *testing.T) { testPoolCancelReleasesLanes(t, e, dir, size) })
		}
	})
}

func testPoolCancelReleasesLanes(t *testing.T, e *storeEnv, dir Direction, size int) {
	name, next := dir.String()+"-"+poolFile, dir.String()+"-next.bin"
	ts := e.another(t, ServerConfig{})
	p := throttledProxy(t, ts, udpproxy.Config{RateBits: poolRate})
	c := dialPool(t, ts, p.Addr().String(), PoolConfig{Size: 2})
	local := t.TempDir()
	// put writes a file at the sender: local in a push, the store in
	// a pull.
	put := func(n string, size int) []byte {
		data := randomBytes(t, size)
		if dir == Push {
			writeTestFile(t, filepath.Join(local, n), data)
		} else {
			e.put(t, n, data, 0o644, time.Unix(1e9, 0))
		}
		return data
	}
	put(name, size)
	want := put(next, 2<<20)
	// The sender's lanes: the client's in a push, those of
	// the server's side of the session in a pull.
	senderLanes := c.lanes
	if dir == Pull {
		senderLanes = serverSessionOf(t, ts, c).lanes
	}

	res := transferAsync(longCtx(t), c, transferOf(dir, local, name, Options{}))
	var id uint64
	testutil.Eventually(t, hangAfter, "2 MiB at the receiver", func() bool {
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
	testutil.Eventually(t, 10*time.Second, "the server to end the cancelled transfer", func() bool {
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
	if dir == Push {
		e.sameFile(t, next, want)
	} else {
		testutil.SameFile(t, filepath.Join(local, next), want)
	}
}

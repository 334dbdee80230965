package session

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/quicx"
	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// heapSlack is how much the server's heap may grow while a hostile peer
// does its worst. It is generous: the point is that growth is bounded by
// the limits (windows, stream counts), not proportional to what the peer
// sends or asks for.
const heapSlack = 200 << 20

// hostileServer serves a root that sits alone in a fresh directory, so a
// test can check that nothing was written beside it. qc tunes the QUIC
// transport (for a short idle timeout).
func hostileServer(t *testing.T, cfg ServerConfig, qc quicx.Config) (*testServer, string) {
	t.Helper()
	parent := t.TempDir()
	cfg.Root = filepath.Join(parent, "root")
	if err := os.Mkdir(cfg.Root, 0o755); err != nil {
		t.Fatal(err)
	}
	ts := serveAt(t, cfg, newIdentity(t), "127.0.0.1:0", qc, nil)
	t.Cleanup(func() { nothingOutside(t, parent) })
	return ts, parent
}

// nothingOutside fails if parent holds anything but the root.
func nothingOutside(t testing.TB, parent string) {
	t.Helper()
	des, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		if de.Name() != "root" {
			t.Errorf("written outside the root: %s", filepath.Join(parent, de.Name()))
		}
	}
}

// heapInuse returns the heap in use after a collection.
func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// checkHeap fails if the heap grew by more than heapSlack since before.
func checkHeap(t testing.TB, before uint64) {
	t.Helper()
	if after := heapInuse(); after > before+heapSlack {
		t.Errorf("heap in use: got %d MiB, want at most %d MiB (%d MiB before + %d MiB)",
			after>>20, (before+heapSlack)>>20, before>>20, heapSlack>>20)
	}
}

// pushOne pushes a small file with a well-behaved client and returns
// what went wrong, so it can run in a goroutine next to a hostile peer.
func pushOne(ctx context.Context, c *clientConn, dir, name string) error {
	local := filepath.Join(dir, name)
	if err := os.WriteFile(local, []byte("well-behaved "+name), 0o644); err != nil {
		return err
	}
	rep, err := c.Push(ctx, []string{local}, "good", Options{})
	if err != nil {
		return err
	}
	return rep.Err()
}

// remoteCloseCode waits for conn to end and returns the application code the
// server closed it with.
func remoteCloseCode(t testing.TB, conn *quic.Conn) ErrorCode {
	t.Helper()
	select {
	case <-conn.Context().Done():
	case <-time.After(rawTimeout):
		t.Fatalf("connection still open after %v, want it closed by the server", rawTimeout)
	}
	var ae *quic.ApplicationError
	if err := context.Cause(conn.Context()); !errors.As(err, &ae) || !ae.Remote {
		t.Fatalf("connection ended with %v, want an application close from the server", err)
	}
	return ErrorCode(ae.ErrorCode)
}

// TestHostileMaxConnections fills MaxConnections and checks that one more
// connection is refused with LimitExceeded, and that a freed slot lets a
// new one in.
func TestHostileMaxConnections(t *testing.T) {
	ts, _ := hostileServer(t, ServerConfig{MaxConnections: 3}, quicx.Config{})
	var peers []*rawPeer
	for range 3 {
		p := dialRaw(t, ts)
		p.hello()
		peers = append(peers, p)
	}
	if n := ts.srv.Sessions(); n != 3 {
		t.Fatalf("sessions: got %d, want 3", n)
	}
	extra := dialQUIC(t, ts)
	if got := remoteCloseCode(t, extra); got != CodeLimitExceeded {
		t.Errorf("fourth connection closed with %v, want %v", got, CodeLimitExceeded)
	}
	// The three admitted sessions still work.
	for i, p := range peers {
		p.send(&wire.Stat{ID: 1, Path: "."})
		if r := expectMsg[*wire.StatResult](p); r.ID != 1 {
			t.Errorf("peer %d: got StatResult for id %d, want 1", i, r.ID)
		}
	}
	peers[0].close()
	testutil.Eventually(t, rawTimeout, "a session slot to be freed", func() bool { return ts.srv.Sessions() == 2 })
	checkServes(t, ts)
	// checkServes's client has closed, but the server lets go of its
	// slot only when the close reaches it.
	testutil.Eventually(t, rawTimeout, "the checking client's slot to be freed", func() bool { return ts.srv.Sessions() == 2 })
	late := dialRaw(t, ts)
	late.hello()
	if n := ts.srv.Sessions(); n != 3 {
		t.Errorf("sessions after a slot was reused: got %d, want 3", n)
	}
}

// TestHostileManyStreams opens thousands of data streams that belong to
// no transfer. The server stops each with UnknownTransfer, QUIC's stream
// limit keeps at most 256 open at once, and the server keeps serving.
func TestHostileManyStreams(t *testing.T) {
	ts, _ := hostileServer(t, ServerConfig{}, quicx.Config{})
	before := heapInuse()
	p := dialRaw(t, ts)
	p.hello()
	// Settle a high id first so that streams naming lower ids are refused
	// at once rather than after StreamWait.
	const settled = 1 << 20
	p.send(&wire.Stat{ID: settled, Path: "."})
	expectMsg[*wire.StatResult](p)

	c := ts.dial(t, "")
	src := t.TempDir()
	pushed := make(chan error, 1)
	go func() { pushed <- pushOne(testCtx(t), c, src, "during-streams.txt") }()

	const streams = 2000
	opened := 0
	var wg sync.WaitGroup
	codes := make(chan ErrorCode, streams)
	for i := range streams {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		ws, err := p.conn.OpenUniStreamSync(ctx)
		cancel()
		if err != nil {
			t.Fatalf("stream %d: %v (opened %d)", i, err, opened)
		}
		opened++
		if _, err := ws.Write(wire.AppendRangeHeader(nil, wire.RangeHeader{ID: uint64(i + 1)})); err != nil {
			t.Fatalf("stream %d header: %v", i, err)
		}
		wg.Go(func() {
			select {
			case <-ws.Context().Done():
			case <-time.After(2 * rawTimeout):
				codes <- ErrorCode(0xffff)
				return
			}
			var se *quic.StreamError
			if err := context.Cause(ws.Context()); errors.As(err, &se) && se.Remote {
				codes <- ErrorCode(se.ErrorCode)
				return
			}
			codes <- ErrorCode(0xfffe)
		})
	}
	wg.Wait()
	close(codes)
	bad := 0
	for code := range codes {
		if code != CodeUnknownTransfer {
			bad++
		}
	}
	if opened != streams || bad != 0 {
		t.Errorf("streams: opened %d, %d not stopped with %v; want %d opened, all stopped", opened, bad, CodeUnknownTransfer, streams)
	}
	if err := <-pushed; err != nil {
		t.Errorf("push during the stream flood: %v", err)
	}
	p.send(&wire.List{ID: settled + 1, Path: "."})
	expectMsg[*wire.ListResult](p)
	checkHeap(t, before)
	checkServes(t, ts)
}

// TestHostileManyTinyFiles pushes thousands of tiny files with a normal
// client.
func TestHostileManyTinyFiles(t *testing.T) {
	ts, _ := hostileServer(t, ServerConfig{}, quicx.Config{})
	const files = 2000
	src := filepath.Join(t.TempDir(), "tiny")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range files {
		if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("f%04d", i)), fmt.Appendf(nil, "file %05d", i), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := ts.dial(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := c.Push(ctx, []string{src}, ".", Options{Recursive: true})
	checkReport(t, "tiny files", rep, err, files, Done)
	got := 0
	filepath.WalkDir(ts.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if want := "file 0" + strings.TrimPrefix(filepath.Base(p), "f"); string(b) != want {
			t.Errorf("%s: got %q, want %q", p, b, want)
		}
		got++
		return nil
	})
	if got != files {
		t.Errorf("files on the server: got %d, want %d", got, files)
	}
	testutil.NoPartials(t, ts.root)
}

// TestHostileHugeListing lists, on each store, a directory over
// MaxListEntries (refused) and one just within it that takes several
// ListResult frames.
func TestHostileHugeListing(t *testing.T) {
	// 300 entries of 250 bytes are over one frame (64 KiB), with as few
	// objects as the S3 variant can write quickly.
	const maxEntries = 300
	forEachStore(t, ServerConfig{MaxListEntries: maxEntries}, func(t *testing.T, e *storeEnv) {
		fill := func(dir string, n int, name func(int) string) {
			e.mkdir(t, dir)
			e.putMany(t, n, func(i int) string { return dir + "/" + name(i) })
		}
		fill("huge", maxEntries+1, func(i int) string { return fmt.Sprintf("f%d", i) })
		// Names of 250 bytes: 300 entries exceed one 64 KiB frame.
		fill("big", maxEntries, func(i int) string { return fmt.Sprintf("%04d-%s", i, strings.Repeat("n", 245)) })
		stored := len(e.allNames(t))

		p := dialRaw(t, e.ts)
		p.hello()
		p.send(&wire.List{ID: 1, Path: "huge"})
		if r := expectMsg[*wire.Reject](p); r.ID != 1 || r.Code != CodeLimitExceeded {
			t.Errorf("listing %d entries: got Reject{ID: %d, Code: %v}, want ID 1, %v", maxEntries+1, r.ID, r.Code, CodeLimitExceeded)
		}
		p.send(&wire.List{ID: 2, Path: "big"})
		frames, entries := 0, 0
		for {
			r := expectMsg[*wire.ListResult](p)
			if r.ID != 2 {
				t.Fatalf("got ListResult for id %d, want 2", r.ID)
			}
			frames++
			entries += len(r.Entries)
			if r.Last {
				break
			}
		}
		if entries != maxEntries || frames < 2 {
			t.Errorf("listing: got %d entries in %d frames, want %d entries in at least 2 frames", entries, frames, maxEntries)
		}

		c := e.ts.dial(t, "")
		if _, err := c.List(testCtx(t), "huge"); codeOfErr(err) != CodeLimitExceeded {
			t.Errorf("client listing %d entries: got %v, want %v", maxEntries+1, err, CodeLimitExceeded)
		}
		got, err := c.List(testCtx(t), "big")
		if err != nil || len(got) != maxEntries {
			t.Errorf("client listing: got %d entries, %v; want %d", len(got), err, maxEntries)
		}
		p.close()
		if n := len(e.allNames(t)); n != stored {
			t.Errorf("the store holds %d names after the listings, want the %d it held", n, stored)
		}
		checkServes(t, e.ts)
	})
}

// TestHostileIdleConnections opens many connections that say hello and
// then nothing: they stay within the limits, a normal client works beside
// them, and the idle timeout closes them.
func TestHostileIdleConnections(t *testing.T) {
	const idle = 2 * time.Second
	const peers = 50
	ts, _ := hostileServer(t, ServerConfig{MaxConnections: peers + 1}, quicx.Config{IdleTimeout: idle})
	before := heapInuse()
	var ps []*rawPeer
	for range peers {
		p := dialRaw(t, ts)
		p.hello()
		ps = append(ps, p)
	}
	// Under load the first peers may already have idled out, so this is
	// an upper bound, not an exact count.
	if n := ts.srv.Sessions(); n > peers {
		t.Errorf("sessions: got %d, want at most %d", n, peers)
	}
	checkServes(t, ts) // its client keeps itself alive with pings
	for i, p := range ps {
		select {
		case <-p.conn.Context().Done():
		case <-time.After(idle + rawTimeout):
			t.Fatalf("idle peer %d still connected after %v", i, idle+rawTimeout)
		}
		var ie *quic.IdleTimeoutError
		if err := context.Cause(p.conn.Context()); !errors.As(err, &ie) {
			t.Errorf("idle peer %d: ended with %v, want an idle timeout", i, err)
		}
	}
	testutil.Eventually(t, rawTimeout, "the server to end the idle sessions", func() bool { return ts.srv.Sessions() == 0 })
	checkHeap(t, before)
}

// TestHostileSlowReader pulls a large file and never reads it. The QUIC
// flow-control windows bound what the server buffers; a normal client
// works meanwhile; closing the slow peer ends the transfer.
func TestHostileSlowReader(t *testing.T) {
	ts, _ := hostileServer(t, ServerConfig{}, quicx.Config{})
	const size = 64 << 20
	if err := os.WriteFile(filepath.Join(ts.root, "big.bin"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(ts.root, "big.bin"), size); err != nil {
		t.Fatal(err)
	}
	before := heapInuse()
	p := dialRaw(t, ts)
	p.hello()
	p.send(&wire.Get{ID: 1, Path: "big.bin"})
	if fi := expectMsg[*wire.FileInfo](p); fi.ID != 1 || fi.Size != size {
		t.Fatalf("got FileInfo{ID: %d, Size: %d}, want ID 1, size %d", fi.ID, fi.Size, size)
	}
	// The peer never accepts the data stream. Give the server time to
	// fill whatever window it has.
	time.Sleep(500 * time.Millisecond)

	c := ts.dial(t, "")
	if err := pushOne(testCtx(t), c, t.TempDir(), "beside-slow.txt"); err != nil {
		t.Errorf("push beside a slow reader: %v", err)
	}
	checkHeap(t, before)
	if sent := p.conn.ConnectionStats(); sent.BytesReceived >= size {
		t.Errorf("slow peer received %d bytes without reading, want less than %d", sent.BytesReceived, size)
	}
	c.Close()
	p.close()
	testutil.Eventually(t, rawTimeout, "the slow peer's session to end", func() bool { return ts.srv.Sessions() == 0 })
	if n := ts.srv.Transfers().Len(); n != 0 {
		t.Errorf("server table: got %d live transfers, want 0", n)
	}
	checkServes(t, ts)
}

// TestHostileOffsetPastEnd starts a range stream at an offset beyond the
// file's size.
func TestHostileOffsetPastEnd(t *testing.T) {
	ts, _ := hostileServer(t, ServerConfig{}, quicx.Config{})
	data := []byte("0123456789")
	p := dialRaw(t, ts)
	p.hello()
	p.send(&wire.Put{ID: 1, Path: "past.bin", Size: uint64(len(data)), Mode: 0o644, MTime: fileTime(0)})
	if a := expectMsg[*wire.Accept](p); a.ID != 1 || len(a.Have) != 0 {
		t.Fatalf("got %+v, want Accept{ID: 1} holding nothing", a)
	}
	ws := p.openRange(1, 1000, uint64(len(data)))
	sum := xfer.FileHash(data)
	ws.Write(data)
	ws.Close()
	p.send(&wire.Seal{ID: 1, Hash: sum[:]})
	if d := expectMsg[*wire.Done](p); d.ID != 1 || d.Code != CodeProtocolViolation {
		t.Errorf("got Done{ID: %d, Code: %v, Msg: %q}, want ID 1, %v", d.ID, d.Code, d.Msg, CodeProtocolViolation)
	}
	if _, err := os.Lstat(filepath.Join(ts.root, "past.bin")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("final file: got %v, want it not to exist", err)
	}
	if n := ts.srv.Transfers().Len(); n != 0 {
		t.Errorf("server table: got %d live transfers, want 0", n)
	}
	p.close()
	checkServes(t, ts)
}

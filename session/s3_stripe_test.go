package session

import (
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/session/internal/store"
	"github.com/qxfer/qxfer/session/internal/wire"
)

// expectAlign reads the PartAlign and the Accept of push id, checks the
// PartAlign against testPartSize and the default window, and returns
// the Accept.
func expectAlign(t testing.TB, p *rawPeer, id uint64) *wire.Accept {
	t.Helper()
	a := expectMsg[*wire.PartAlign](p)
	if a.ID != id || a.PartSize != testPartSize || a.Window != store.DefaultWindow {
		t.Fatalf("got %+v, want PartAlign{ID: %d, PartSize: %d, Window: %d}", a, id, testPartSize, store.DefaultWindow)
	}
	acc := expectMsg[*wire.Accept](p)
	if acc.ID != id {
		t.Fatalf("got Accept %+v, want ID %d", acc, id)
	}
	return acc
}

// recvSlow reads the next frame, waiting up to a minute: parts of 5 MiB
// through the store take longer than rawTimeout under -race on a busy
// machine.
func recvSlow(t testing.TB, p *rawPeer) wire.Message {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		m, err := p.recv()
		if err == nil {
			return m
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) || time.Now().After(deadline) {
			t.Fatalf("waiting for a frame: %v", err)
		}
	}
}

// expectDoneSlow skips Acks until the Done of a push, with recvSlow.
func expectDoneSlow(t testing.TB, p *rawPeer) *wire.Done {
	t.Helper()
	for {
		switch m := recvSlow(t, p).(type) {
		case *wire.Done:
			return m
		case *wire.Ack:
		default:
			t.Fatalf("got %s %+v, want Done", m.Type(), m)
		}
	}
}

// TestS3StripedPush pushes a file of many parts to an S3 root over a
// pool of three connections: the server asks for part-aligned ranges,
// the object is byte-exact, and the server never held more part buffers
// than the window, for a file three times larger than the bound.
func TestS3StripedPush(t *testing.T) {
	ts, s3 := startS3(t, ServerConfig{})
	size := 3*store.DefaultWindow*testPartSize + 12345
	src := filepath.Join(t.TempDir(), "striped.bin")
	data := testutil.WriteRandom(t, src, size)
	c := dialWith(t, ts.addr, ClientConfig{Identity: newIdentity(t), Fingerprint: ts.id.Fingerprint, Logger: testLogger(t), Pool: PoolConfig{Size: 3}})
	if n := c.PoolSize(); n != 3 {
		t.Fatalf("pool: got %d connections, want 3", n)
	}
	rep, err := c.Push(longCtx(t), []string{src}, "in", Options{})
	checkReport(t, "striped push", rep, err, 1, Done)
	if got := rep.Files[0].Bytes; got != int64(size) {
		t.Errorf("bytes sent: got %d, want %d (every part once)", got, size)
	}
	testutil.SameFile(t, objectPath(s3, "in/striped.bin"), data)
	checkNoState(t, s3)
	now, peak := ts.srv.s3.PartBuffers()
	if peak > store.DefaultWindow || peak < 1 {
		t.Errorf("part buffers at most: got %d, want 1 to %d (the window)", peak, store.DefaultWindow)
	}
	if now != 0 {
		t.Errorf("part buffers after the push: got %d, want 0", now)
	}
	dst := t.TempDir()
	rep, err = c.Pull(longCtx(t), []string{"in/striped.bin"}, dst, Options{})
	checkReport(t, "pull", rep, err, 1, Done)
	testutil.SameFile(t, filepath.Join(dst, "striped.bin"), data)
}

// TestS3Window: a raw client sends the parts of the window at once, in
// reverse order, and they are stored with at most the window's part
// buffers; a part beyond the window (a sender ignoring it) fails its
// transfer with limit_exceeded, and the server goes on serving.
func TestS3Window(t *testing.T) {
	ts, s3 := startS3(t, ServerConfig{})
	const parts = store.DefaultWindow
	size := parts*testPartSize - 1000
	data := testutil.WriteRandom(t, filepath.Join(t.TempDir(), "src"), size)
	p := dialRaw(t, ts)
	defer p.close()
	p.hello()
	p.send(&wire.Put{ID: 1, Path: "window.bin", Size: uint64(size), Mode: 0o644, MTime: fileTime(0)})
	expectAlign(t, p, 1)
	var wg sync.WaitGroup
	for k := parts - 1; k >= 0; k-- {
		off := k * testPartSize
		end := min(off+testPartSize, size)
		ws := p.openRange(1, uint64(off), uint64(end-off))
		wg.Go(func() {
			ws.Write(data[off:end])
			ws.Close()
		})
	}
	sum := sha256.Sum256(data)
	p.send(&wire.Seal{ID: 1, Hash: sum[:]})
	if d := expectDoneSlow(t, p); d.Code != CodeOK {
		t.Fatalf("got Done{Code: %v, Msg: %q}, want ok", d.Code, d.Msg)
	}
	wg.Wait()
	testutil.SameFile(t, objectPath(s3, "window.bin"), data)
	if now, peak := ts.srv.s3.PartBuffers(); peak > store.DefaultWindow || peak < 2 || now != 0 {
		t.Errorf("part buffers: got %d at most and %d after, want 2 to %d and 0", peak, now, store.DefaultWindow)
	}

	size = (parts+2)*testPartSize + 1
	p.send(&wire.Put{ID: 2, Path: "ahead.bin", Size: uint64(size), Mode: 0o644, MTime: fileTime(0)})
	expectAlign(t, p, 2)
	ws := p.openRange(2, parts*testPartSize, testPartSize)
	ws.Write(make([]byte, 64<<10))
	if code := stopCode(t, ws); code != CodeLimitExceeded {
		t.Errorf("range stream beyond the window stopped with %v, want %v", code, CodeLimitExceeded)
	}
	if d := expectMsg[*wire.Done](p); d.Code != CodeLimitExceeded || d.Msg == "" {
		t.Errorf("got Done{Code: %v, Msg: %q}, want %v with a message", d.Code, d.Msg, CodeLimitExceeded)
	}
	if _, err := os.Stat(objectPath(s3, "ahead.bin")); !os.IsNotExist(err) {
		t.Errorf("an object exists after a range beyond the window (%v)", err)
	}
	checkServes(t, ts)
}

// TestS3MisalignedRange sends ranges that break the part alignment: each
// fails its transfer with range_misaligned (the stream stopped with it),
// leaves no object, and the server goes on serving.
func TestS3MisalignedRange(t *testing.T) {
	ts, s3 := startS3(t, ServerConfig{})
	size := uint64(2*testPartSize + 7)
	tests := []struct {
		name           string
		offset, length uint64
	}{
		{"starts inside a part", 1000, testPartSize - 1000},
		{"ends inside a part", 0, testPartSize + 1},
		{"the client's usual range", testPartSize, 256 << 10},
		{"empty", testPartSize, 0},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "mis-" + string(rune('a'+i)) + ".bin"
			p := dialRaw(t, ts)
			defer p.close()
			p.hello()
			p.send(&wire.Put{ID: 1, Path: name, Size: size, Mode: 0o644, MTime: fileTime(0)})
			expectAlign(t, p, 1)
			ws := p.openRange(1, tt.offset, tt.length)
			ws.Write(make([]byte, min(tt.length, 64<<10)))
			if code := stopCode(t, ws); code != CodeRangeMisaligned {
				t.Errorf("range stream stopped with %v, want %v", code, CodeRangeMisaligned)
			}
			d := expectMsg[*wire.Done](p)
			if d.Code != CodeRangeMisaligned || d.Msg == "" {
				t.Errorf("got Done{Code: %v, Msg: %q}, want %v with a message", d.Code, d.Msg, CodeRangeMisaligned)
			}
			if _, err := os.Stat(objectPath(s3, name)); !os.IsNotExist(err) {
				t.Errorf("%s: an object exists after a misaligned range (%v)", name, err)
			}
		})
	}
	checkServes(t, ts)
}

// TestS3StripedResumeOtherServer: a raw client uploads three parts of a
// file out of order and goes away; a pooled client pushing the same file
// to a second server of the bucket resumes from the recorded parts and
// sends only the rest.
func TestS3StripedResumeOtherServer(t *testing.T) {
	a, s3 := startS3(t, ServerConfig{})
	b := startS3Server(t, s3, ServerConfig{})
	size := 5*testPartSize + 99
	src := filepath.Join(t.TempDir(), "resume.bin")
	data := testutil.WriteRandom(t, src, size)
	meta := metaOfFile(t, src)

	p := dialRaw(t, a)
	p.hello()
	p.send(&wire.Put{ID: 1, Path: "resume.bin", Size: meta.Size, Mode: uint32(meta.Mode), MTime: meta.MTime})
	if acc := expectAlign(t, p, 1); len(acc.Have) != 0 {
		t.Fatalf("first Accept holds %v, want nothing", acc.Have)
	}
	for _, k := range []int{2, 0, 1} {
		ws := p.openRange(1, uint64(k*testPartSize), testPartSize)
		ws.Write(data[k*testPartSize : (k+1)*testPartSize])
		ws.Close()
	}
	acked := map[uint64]bool{}
	for len(acked) < 3 {
		if ack, ok := recvSlow(t, p).(*wire.Ack); ok {
			if ack.Length != testPartSize || ack.Offset%testPartSize != 0 {
				t.Fatalf("got %+v, want the ack of one part", ack)
			}
			acked[ack.Offset] = true
		}
	}
	p.close()
	testutil.Eventually(t, rawTimeout, "server A to let the upload go", func() bool {
		return len(a.srv.Transfers().Snapshot()) == 0
	})

	c := dialWith(t, b.addr, ClientConfig{Identity: newIdentity(t), Fingerprint: b.id.Fingerprint, Logger: testLogger(t), Pool: PoolConfig{Size: 3}})
	rep, err := c.Push(longCtx(t), []string{src}, ".", Options{})
	checkReport(t, "resumed push", rep, err, 1, Done)
	if got, want := rep.Files[0].Bytes, int64(size-3*testPartSize); got != want {
		t.Errorf("bytes sent on resume: got %d, want %d (the parts not recorded)", got, want)
	}
	testutil.SameFile(t, objectPath(s3, "resume.bin"), data)
	checkNoState(t, s3)
}

package session

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/internal/udpproxy"
	"github.com/qxfer/qxfer/quicx"
	"github.com/qxfer/qxfer/session/internal/store"
	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// s3Prefix is the prefix the S3 tests serve under, so that keys outside
// it (and the bucket's root) show anything written out of place.
const s3Prefix = "srv"

// testPartSize is the part size of the S3 tests: the store's minimum,
// so a few MiB make a multipart upload.
const testPartSize = 5 << 20

// startS3 starts versitygw and a qxfer server serving its bucket under
// s3Prefix, with the S3 keys in the environment (as the server reads
// them); the test must not be parallel.
func startS3(t testing.TB, cfg ServerConfig) (*testServer, *testutil.S3Server) {
	t.Helper()
	s3 := testutil.StartS3(t)
	return startS3Server(t, s3, cfg), s3
}

// startS3Server starts one more qxfer server on the bucket of s3.
func startS3Server(t testing.TB, s3 *testutil.S3Server, cfg ServerConfig) *testServer {
	t.Helper()
	if tt, ok := t.(*testing.T); ok {
		tt.Setenv("AWS_ACCESS_KEY_ID", s3.AccessKey)
		tt.Setenv("AWS_SECRET_ACCESS_KEY", s3.SecretKey)
	}
	cfg.Root = "s3://" + s3.Bucket + "/" + s3Prefix
	cfg.S3Endpoint, cfg.S3Region = s3.Endpoint, "us-east-1"
	if cfg.s3PartSize == 0 {
		cfg.s3PartSize = testPartSize
	}
	return serveAt(t, cfg, newIdentity(t), "127.0.0.1:0", quicx.Config{}, nil)
}

// s3Client is a plain S3 client of s3, the store's own view for checks.
func s3Client(t testing.TB, s3 *testutil.S3Server) *minio.Core {
	t.Helper()
	c, err := minio.NewCore(strings.TrimPrefix(s3.Endpoint, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4(s3.AccessKey, s3.SecretKey, ""), Region: "us-east-1", BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// objectPath is where versitygw keeps object key of s3 under the served
// prefix: a plain file.
func objectPath(s3 *testutil.S3Server, key string) string {
	return filepath.Join(s3.Dir, s3.Bucket, s3Prefix, filepath.FromSlash(key))
}

// checkNoState fails the test if a state object is left under the
// reserved prefix (every upload completed or aborted).
func checkNoState(t testing.TB, s3 *testutil.S3Server) {
	t.Helper()
	res, err := s3Client(t, s3).ListObjectsV2(s3.Bucket, s3Prefix+"/.qxfer/", "", "", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Contents) != 0 {
		t.Errorf("state objects: got %d (first %s), want none", len(res.Contents), res.Contents[0].Key)
	}
}

// TestS3Refusals checks that a wrong hash or a corrupted byte leaves no
// object and no upload behind on an S3 root (a file that exists and
// differs is refused without Force: TestExistingDestination).
func TestS3Refusals(t *testing.T) {
	ts, s3 := startS3(t, ServerConfig{})
	for _, size := range []int{200 << 10, 2*testPartSize + 7} {
		for _, corrupt := range []string{"hash", "byte"} {
			name := "bad-" + corrupt + "-" + strings.Repeat("x", size%7+1) + ".bin"
			data := testutil.WriteRandom(t, filepath.Join(t.TempDir(), "src"), size)
			p := dialRaw(t, ts)
			p.hello()
			p.send(&wire.Put{ID: 1, Path: name, Size: uint64(size), Mode: 0o644, MTime: fileTime(0)})
			if a := expectMsg[*wire.Accept](p); a.ID != 1 || len(a.Have) != 0 {
				t.Fatalf("got %+v, want Accept{ID: 1} holding nothing", a)
			}
			sum := xfer.FileHash(data)
			body := data
			if corrupt == "hash" {
				sum[0] ^= 1
			} else {
				body = append([]byte(nil), data...)
				body[size-3] ^= 0x40
			}
			ws := p.openRange(1, 0, uint64(size))
			ws.Write(body)
			ws.Close()
			p.send(&wire.Seal{ID: 1, Hash: sum[:]})
			if d := expectMsg[*wire.Done](p); d.Code != CodeHashMismatch {
				t.Errorf("%s: got Done{Code: %v, Msg: %q}, want %v", name, d.Code, d.Msg, CodeHashMismatch)
			}
			p.close()
			if _, err := s3Client(t, s3).StatObject(context.Background(), s3.Bucket, s3Prefix+"/"+name, minio.StatObjectOptions{}); err == nil {
				t.Errorf("%s: an object exists after a hash mismatch", name)
			}
		}
	}
	ups, err := s3Client(t, s3).ListMultipartUploads(context.Background(), s3.Bucket, s3Prefix+"/", "", "", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 0 {
		t.Errorf("multipart uploads: got %d, want all aborted", len(ups.Uploads))
	}
	checkNoState(t, s3)

	checkServes(t, ts)
}

// TestS3ReservedPrefix checks that the state prefix is hidden from
// listings and that its objects stay when a path names them (every
// request naming it is refused: TestPathAttackRaw).
func TestS3ReservedPrefix(t *testing.T) {
	ts, s3 := startS3(t, ServerConfig{})
	sc := s3Client(t, s3)
	ctx := testCtx(t)
	for _, k := range []string{".qxfer/up/x.json", "visible.txt"} {
		if _, err := sc.PutObject(ctx, s3.Bucket, s3Prefix+"/"+k, strings.NewReader("state"), 5, "", "", minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	c := ts.dial(t, "")
	ents, err := c.List(ctx, ".")
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name != "visible.txt" {
		t.Errorf("listing: got %v, want only visible.txt", ents)
	}
	// TestPathAttackRaw refuses every request naming the prefix; here,
	// a put cannot replace a state object that exists.
	rp := dialRaw(t, ts)
	rp.hello()
	rp.send(&wire.Put{ID: 1, Path: ".qxfer/up/x.json", Size: 10, Mode: 0o644, MTime: fileTime(0), Flags: wire.FlagForce})
	if r := expectMsg[*wire.Reject](rp); r.Code != CodeInvalidPath {
		t.Errorf("got Reject{Code: %v, Msg: %q}, want %v", r.Code, r.Msg, CodeInvalidPath)
	}
	rp.close()
	b, err := os.ReadFile(objectPath(s3, ".qxfer/up/x.json"))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "state" {
		t.Errorf("state object: got %q, want it unchanged", b)
	}
	checkServes(t, ts)
}

// TestS3ReplacedDuringPull replaces an object while a pull of it runs,
// plain and striped over a pool, on a link slow enough that the
// replacement comes early in the file: the pull fails that file with
// SourceChanged, leaves nothing under its name, and the session goes on
// (a pull of the new version right after, on the same session, is
// whole). A store may serve a GET already streaming from the old version
// (versitygw does), but the S3 store reads in GETs of one part, each
// pinned to the ETag seen at open, so the next part's GET is refused
// (store.s3Source.getSpan).
func TestS3ReplacedDuringPull(t *testing.T) {
	for _, tt := range []struct {
		name string
		pool int
	}{{"plain", 0}, {"striped", 4}} {
		t.Run(tt.name, func(t *testing.T) { testS3ReplacedDuringPull(t, tt.pool) })
	}
}

func testS3ReplacedDuringPull(t *testing.T, pool int) {
	ts, s3 := startS3(t, ServerConfig{})
	// Four parts: the GET of the last one is opened only once the pull
	// has read two (store.s3Body.next).
	const size = 4 * testPartSize
	e := &storeEnv{ts: ts, s3: s3}
	old := randomBytes(t, size)
	e.put(t, "v.bin", old, 0o644, time.Unix(1e9, 0))

	// A slow link (20 MiB take 2.6 s at 64 Mbit/s), so that the
	// replacement comes while the first part is read. The new version
	// is smaller, so that the pull of it after is quick.
	px := throttledProxy(t, ts, udpproxy.Config{RateBits: 64e6})
	pcfg := clientConfig(t, ts, newIdentity(t), quicx.Config{}, nil)
	pcfg.Pool = PoolConfig{Size: pool}
	pc := dialWith(t, px.Addr().String(), pcfg)
	dst := t.TempDir()
	res := runAsync(func() (*Report, error) { return pc.Pull(longCtx(t), []string{"v.bin"}, dst, Options{}) })
	testutil.Eventually(t, hangAfter, "the pull to start", func() bool { return received(pc.Transfers(), "v.bin") > 0 })
	other := randomBytes(t, testPartSize+3)
	e.put(t, "v.bin", other, 0o644, time.Unix(2e9, 0))
	var r pushResult
	select {
	case r = <-res:
	case <-time.After(2 * hangAfter):
		t.Fatal("pull did not end")
	}
	if r.err != nil {
		t.Fatalf("pull: %v", r.err)
	}
	if len(r.rep.Files) != 1 || r.rep.Files[0].State != Failed || codeOfErr(r.rep.Files[0].Err) != CodeSourceChanged {
		t.Fatalf("pull after the replacement: got %+v, want v.bin failed with %v", r.rep.Files, CodeSourceChanged)
	}
	if got := r.rep.Files[0].Bytes; got >= size {
		t.Errorf("the failed pull received %d bytes, want fewer than the file's %d", got, size)
	}
	testutil.NoFile(t, filepath.Join(dst, "v.bin"))
	testutil.NoPartials(t, dst)

	// The session goes on: the new version pulls whole.
	rep, err := pc.Pull(longCtx(t), []string{"v.bin"}, dst, Options{})
	checkReport(t, "pull of the new version", rep, err, 1, Done)
	testutil.SameFile(t, filepath.Join(dst, "v.bin"), other)
	testutil.NoPartials(t, dst)
}

// TestS3RangeOverrun sends a part-aligned range stream of a multipart
// file that carries one byte more than its header says: the part is not
// uploaded, the transfer fails with too_long, its upload is aborted (no
// object, upload or state object left), and the server goes on serving.
// TestPoolBadRange covers the same for a file of one part, on each store.
func TestS3RangeOverrun(t *testing.T) {
	ts, s3 := startS3(t, ServerConfig{})
	size := uint64(2*testPartSize + 7)
	p := dialRaw(t, ts)
	defer p.close()
	p.hello()
	p.send(&wire.Put{ID: 1, Path: "over.bin", Size: size, Mode: 0o644, MTime: fileTime(0)})
	expectAlign(t, p, 1)
	ws := p.openRange(1, 0, testPartSize)
	ws.Write(make([]byte, testPartSize+1))
	ws.Close()
	d := expectMsg[*wire.Done](p)
	if d.Code != CodeTooLong || d.Msg == "" {
		t.Errorf("got Done{Code: %v, Msg: %q}, want %v with a message", d.Code, d.Msg, CodeTooLong)
	}
	if _, err := os.Stat(objectPath(s3, "over.bin")); !os.IsNotExist(err) {
		t.Errorf("an object exists after an overrun range (%v)", err)
	}
	e := &storeEnv{ts: ts, s3: s3}
	e.noPartials(t)
	checkServes(t, ts)
}

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
	sum := xfer.FileHash(data)
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

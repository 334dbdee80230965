package session

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/internal/udpproxy"
	"github.com/qxfer/qxfer/quicx"
	"github.com/qxfer/qxfer/session/internal/wire"
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
			sum := sha256.Sum256(data)
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

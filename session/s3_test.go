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

// TestS3RoundTrip pushes files and trees to an S3 root and pulls them
// back: small files (one PutObject), a multipart file, a striped one
// over a pool; mode and mtime survive as metadata, the objects are the
// files (the store's own view), and nothing moves a second time.
func TestS3RoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		files     []testFile
		emptyDirs []string
		source    string
		recursive bool
		pool      int
	}{
		{name: "empty file", files: []testFile{{"empty", 0, 0o644}}, source: "empty"},
		{name: "one byte", files: []testFile{{"one", 1, 0o600}}, source: "one"},
		{name: "one part exactly", files: []testFile{{"part.bin", testPartSize, 0o640}}, source: "part.bin"},
		{name: "multipart", files: []testFile{{"big.bin", 2*testPartSize + 12345, 0o640}}, source: "big.bin"},
		{name: "striped multipart", files: []testFile{{"striped.bin", 3*testPartSize + 1, 0o600}}, source: "striped.bin", pool: 4},
		{
			name: "nested tree",
			files: []testFile{
				{"tree/a.txt", 10, 0o644},
				{"tree/exec.sh", 300, 0o755},
				{"tree/sub/b.bin", 300 << 10, 0o600},
				{"tree/ünï/ødd name", 77, 0o644},
			},
			emptyDirs: []string{"tree/empty", "tree/sub/empty2"},
			source:    "tree",
			recursive: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, s3 := startS3(t, ServerConfig{})
			cfg := ClientConfig{Identity: newIdentity(t), Fingerprint: ts.id.Fingerprint, Logger: testLogger(t), Pool: PoolConfig{Size: tt.pool}}
			c := dialWith(t, ts.addr, cfg)
			ctx := longCtx(t)
			src := t.TempDir()
			data := makeTree(t, src, tt.files, tt.emptyDirs)
			opts := Options{Recursive: tt.recursive}

			rep, err := c.Push(ctx, []string{filepath.Join(src, tt.source)}, "in", opts)
			checkReport(t, "push", rep, err, len(tt.files), Done)
			for _, f := range tt.files {
				testutil.SameFile(t, objectPath(s3, "in/"+f.path), data[f.path])
			}
			checkNoState(t, s3)

			dst := t.TempDir()
			rep, err = c.Pull(ctx, []string{"in/" + tt.source}, dst, opts)
			checkReport(t, "pull", rep, err, len(tt.files), Done)
			checkTree(t, dst, tt.files, tt.emptyDirs, data)

			rep, err = c.Push(ctx, []string{filepath.Join(src, tt.source)}, "in", opts)
			checkReport(t, "second push", rep, err, len(tt.files), Skipped)
			rep, err = c.Pull(ctx, []string{"in/" + tt.source}, dst, opts)
			checkReport(t, "second pull", rep, err, len(tt.files), Skipped)
		})
	}
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

// TestS3Refusals checks what an S3 root refuses: a file that exists and
// differs without Force (replaced with it), and a wrong hash or a
// corrupted byte, which leave no object and no upload behind.
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

	// Exists without Force, replaced with it.
	c := ts.dial(t, "")
	src := t.TempDir()
	makeTree(t, src, []testFile{{"f", 100, 0o644}}, nil)
	rep, err := c.Push(testCtx(t), []string{filepath.Join(src, "f")}, ".", Options{})
	checkReport(t, "first push", rep, err, 1, Done)
	other := t.TempDir()
	data := makeTree(t, other, []testFile{{"f", 200, 0o644}}, nil)
	rep, err = c.Push(testCtx(t), []string{filepath.Join(other, "f")}, ".", Options{})
	checkReport(t, "push over it", rep, err, 1, Failed)
	if code := codeOfErr(rep.Files[0].Err); code != CodeExists {
		t.Errorf("push over it: got %v, want %v", code, CodeExists)
	}
	rep, err = c.Push(testCtx(t), []string{filepath.Join(other, "f")}, ".", Options{Force: true})
	checkReport(t, "push with force", rep, err, 1, Done)
	testutil.SameFile(t, objectPath(s3, "f"), data["f"])
	checkServes(t, ts)
}

// TestS3ReservedPrefix checks that the state prefix is hidden from
// listings and cannot be named by a path, while its objects stay.
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
	ops := []struct {
		name  string
		frame func(p string) wire.Message
	}{
		{"put", func(p string) wire.Message {
			return &wire.Put{ID: 1, Path: p, Size: 10, Mode: 0o644, MTime: fileTime(0)}
		}},
		{"get", func(p string) wire.Message { return &wire.Get{ID: 1, Path: p} }},
		{"list", func(p string) wire.Message { return &wire.List{ID: 1, Path: p} }},
		{"stat", func(p string) wire.Message { return &wire.Stat{ID: 1, Path: p} }},
		{"mkdir", func(p string) wire.Message { return &wire.Mkdir{ID: 1, Path: p, Mode: 0o755} }},
	}
	for _, op := range ops {
		for _, p := range []string{".qxfer", ".qxfer/up/x.json", ".qxfer/new", "./.qxfer/up"} {
			t.Run(op.name+" "+p, func(t *testing.T) {
				rp := dialRaw(t, ts)
				rp.hello()
				rp.send(op.frame(p))
				r := expectMsg[*wire.Reject](rp)
				if r.Code != CodeInvalidPath {
					t.Errorf("got Reject{Code: %v, Msg: %q}, want %v", r.Code, r.Msg, CodeInvalidPath)
				}
				rp.close()
			})
		}
	}
	b, err := os.ReadFile(objectPath(s3, ".qxfer/up/x.json"))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "state" {
		t.Errorf("state object: got %q, want it unchanged", b)
	}
	checkServes(t, ts)
}

// TestS3ReplacedDuringPull replaces an object while a striped pull of it
// runs: every GET is pinned to the ETag the pull began with, so the pull
// either fails with SourceChanged (a GET opened after the replacement)
// or delivers the old version whole (a GET already streaming keeps
// serving the version it began with, on S3 as on versitygw), and never a
// splice of the two. The store's own test (TestS3SourcePinned) shows the
// refusal deterministically.
func TestS3ReplacedDuringPull(t *testing.T) {
	ts, s3 := startS3(t, ServerConfig{})
	const size = 3 * testPartSize
	src := t.TempDir()
	makeTree(t, src, []testFile{{"v.bin", size, 0o644}}, nil)
	c := ts.dial(t, "")
	rep, err := c.Push(longCtx(t), []string{filepath.Join(src, "v.bin")}, ".", Options{})
	checkReport(t, "push", rep, err, 1, Done)

	// A slow link, so that the pull is still running when the object
	// changes.
	px := throttledProxy(t, ts, udpproxy.Config{RateBits: 32e6})
	pcfg := clientConfig(t, ts, newIdentity(t), quicx.Config{}, nil)
	pcfg.Pool = PoolConfig{Size: 4}
	pc := dialWith(t, px.Addr().String(), pcfg)
	dst := t.TempDir()
	res := runAsync(func() (*Report, error) { return pc.Pull(longCtx(t), []string{"v.bin"}, dst, Options{}) })
	testutil.Eventually(t, hangAfter, "the pull to start", func() bool { return received(pc.Transfers(), "v.bin") > 0 })
	old, err := os.ReadFile(filepath.Join(src, "v.bin"))
	if err != nil {
		t.Fatal(err)
	}
	other := testutil.WriteRandom(t, filepath.Join(t.TempDir(), "other"), size)
	if _, err := s3Client(t, s3).PutObject(context.Background(), s3.Bucket, s3Prefix+"/v.bin", strings.NewReader(string(other)), size, "", "", minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	var r pushResult
	select {
	case r = <-res:
	case <-time.After(2 * hangAfter):
		t.Fatal("pull did not end")
	}
	if r.err != nil {
		t.Fatalf("pull: %v", r.err)
	}
	switch {
	case len(r.rep.Files) != 1:
		t.Fatalf("pull: got %+v, want one file", r.rep.Files)
	case r.rep.Files[0].State == Done:
		testutil.SameFile(t, filepath.Join(dst, "v.bin"), old)
	case codeOfErr(r.rep.Files[0].Err) == CodeSourceChanged:
		testutil.NoFile(t, filepath.Join(dst, "v.bin"))
	default:
		t.Fatalf("pull: got %+v, want done with the old version or failed with %v", r.rep.Files[0], CodeSourceChanged)
	}
	testutil.NoPartials(t, dst)
}

// TestS3PathAttack sends the hostile paths of TestPathAttackRaw to an
// S3 root: each is refused with its code, nothing is written anywhere in
// the bucket (inside or outside the prefix), and the server serves on.
func TestS3PathAttack(t *testing.T) {
	ts, s3 := startS3(t, ServerConfig{})
	long := strings.Repeat("n", 300)
	paths := []struct {
		path string
		code ErrorCode
	}{
		{"..", CodeInvalidPath}, {"../x", CodeInvalidPath}, {"a/../../x", CodeInvalidPath},
		{"a/..", CodeInvalidPath}, {"a/../x", CodeInvalidPath}, {"/etc/passwd", CodeInvalidPath},
		{"/", CodeInvalidPath}, {"a\x00b", CodeInvalidPath}, {`..\x`, CodeInvalidPath},
		{"a\xffb", CodeInvalidPath}, {"../" + s3Prefix + "2/x", CodeInvalidPath},
		{long, CodeNameTooLong}, {"d/" + long, CodeNameTooLong},
	}
	ops := []func(p string) wire.Message{
		func(p string) wire.Message {
			return &wire.Put{ID: 1, Path: p, Size: 10, Mode: 0o644, MTime: fileTime(0)}
		},
		func(p string) wire.Message { return &wire.Get{ID: 1, Path: p} },
		func(p string) wire.Message { return &wire.List{ID: 1, Path: p} },
		func(p string) wire.Message { return &wire.Mkdir{ID: 1, Path: p, Mode: 0o755} },
	}
	for _, pth := range paths {
		for _, op := range ops {
			p := dialRaw(t, ts)
			p.hello()
			m := op(pth.path)
			p.send(m)
			r := expectMsg[*wire.Reject](p)
			if r.ID != 1 || r.Code != pth.code {
				t.Errorf("%s %q: got Reject{ID: %d, Code: %v, Msg: %q}, want %v", m.Type(), pth.path, r.ID, r.Code, r.Msg, pth.code)
			}
			p.send(&wire.List{ID: 2, Path: "."})
			expectMsg[*wire.ListResult](p)
			p.close()
		}
	}
	res, err := s3Client(t, s3).ListObjectsV2(s3.Bucket, "", "", "", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Contents) != 0 {
		t.Errorf("bucket: got %d objects (first %q), want none", len(res.Contents), res.Contents[0].Key)
	}
	checkServes(t, ts)
}

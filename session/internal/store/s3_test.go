package store

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// testStore starts versitygw and opens a store on its bucket under
// prefix "p".
func testStore(t *testing.T) (*S3, *testutil.S3Server) {
	t.Helper()
	srv := testutil.StartS3(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := OpenS3(ctx, S3Config{
		URL: "s3://" + srv.Bucket + "/p", Endpoint: srv.Endpoint, Region: "us-east-1", PartSize: minPartSize,
		Credentials: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, srv
}

func putObject(t *testing.T, s *S3, key, body string) {
	t.Helper()
	if _, err := s.api.PutObject(context.Background(), s.bucket, key, strings.NewReader(body), int64(len(body)), "", "", minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
}

func codeOf(err error) wire.ErrorCode {
	var e *xfer.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0xffff
}

// TestS3SourcePinned reads an object, replaces it, and reads again at
// an offset no open GET serves: the read fails with SourceChanged.
func TestS3SourcePinned(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	putObject(t, s, "p/f", strings.Repeat("a", 1000))
	src, meta, err := s.OpenSource(ctx, "f")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if meta.Size != 1000 {
		t.Fatalf("size: got %d, want 1000", meta.Size)
	}
	b := make([]byte, 10)
	if n, err := src.ReadAt(b, 0); n != 10 || err != nil || string(b) != strings.Repeat("a", 10) {
		t.Fatalf("first read: got %d, %v, %q", n, err, b)
	}
	putObject(t, s, "p/f", strings.Repeat("b", 1000))
	n, err := src.ReadAt(b, 500)
	if codeOf(err) != wire.SourceChanged {
		t.Fatalf("read after replacement: got %d bytes %q, err %v, want %v", n, b[:n], err, wire.SourceChanged)
	}
	if n, err := src.ReadAt(b, 995); err != io.EOF && codeOf(err) != wire.SourceChanged {
		t.Fatalf("read at the end: got %d, %v", n, err)
	}
}

// TestS3WritersRace opens two writers of one large file at once, as two
// servers of one bucket would: exactly one gets the upload, the other is
// Busy.
func TestS3WritersRace(t *testing.T) {
	s, _ := testStore(t)
	other := *s
	meta := xfer.FileMeta{Size: 3 * minPartSize, Mode: 0o644, MTime: time.Unix(1700000000, 0)}
	for round := range 5 {
		p := "race" + string(rune('a'+round))
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, st := range []*S3{s, &other} {
			wg.Go(func() {
				_, _, errs[i] = st.OpenWriter(context.Background(), WriterConfig{Path: p, Meta: meta})
			})
		}
		wg.Wait()
		ok, busy := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case codeOf(err) == wire.Busy:
				busy++
			default:
				t.Errorf("%s: got %v, want success or %v", p, err, wire.Busy)
			}
		}
		if ok != 1 || busy != 1 {
			t.Errorf("%s: got %d writers and %d busy, want exactly one of each", p, ok, busy)
		}
	}
}

// TestS3Expire leaves an upload interrupted (its lease released, as a
// writer that stops does), and expires partials: an upload younger than
// the cutoff stays, an older one is aborted with its state object.
func TestS3Expire(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	meta := xfer.FileMeta{Size: 2*minPartSize + 1, Mode: 0o644, MTime: time.Unix(1700000000, 0)}
	w, _, err := s.OpenWriter(ctx, WriterConfig{Path: "old", Meta: meta})
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := w.Wait(cctx); codeOf(err) != wire.Cancelled && codeOf(err) != wire.Interrupted {
		t.Logf("wait: %v", err)
	}
	uploads := func() int {
		res, err := s.api.(interface {
			ListMultipartUploads(ctx context.Context, bucket, prefix, keyMarker, uploadIDMarker, delimiter string, maxUploads int) (minio.ListMultipartUploadsResult, error)
		}).ListMultipartUploads(ctx, s.bucket, "p/", "", "", "", 100)
		if err != nil {
			t.Fatal(err)
		}
		return len(res.Uploads)
	}
	if n := uploads(); n != 1 {
		t.Fatalf("before expiry: got %d uploads, want 1", n)
	}
	if n, err := s.Expire(ctx, time.Now().Add(-time.Hour)); n != 0 || err != nil {
		t.Fatalf("expire with an old cutoff: got %d, %v, want 0 aborted", n, err)
	}
	if n := uploads(); n != 1 {
		t.Fatalf("after a young expiry: got %d uploads, want 1", n)
	}
	if n, err := s.Expire(ctx, time.Now().Add(time.Second)); n != 1 || err != nil {
		t.Fatalf("expire: got %d, %v, want 1 aborted", n, err)
	}
	if n := uploads(); n != 0 {
		t.Errorf("after expiry: got %d uploads, want 0", n)
	}
	if st, _, err := s.loadState(ctx, s.stateKey("p/old")); st != nil || err != nil {
		t.Errorf("state after expiry: got %+v, %v, want none", st, err)
	}
}

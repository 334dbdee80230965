package store

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"sync"

	"github.com/minio/minio-go/v7"

	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// OpenSource HEADs object p and returns a source whose reads are ranged
// GETs pinned to the ETag seen (If-Match): an object replaced during the
// pull fails it with wire.SourceChanged instead of splicing two versions.
func (s *S3) OpenSource(ctx context.Context, p string) (xfer.Source, xfer.FileMeta, error) {
	k, err := s.key(p)
	if err != nil {
		return nil, xfer.FileMeta{}, err
	}
	if p == "." {
		return nil, xfer.FileMeta{}, xfer.Errorf(wire.NotRegular, p, "a directory")
	}
	fi, err := s.head(ctx, k, p)
	if errors.Is(err, xfer.ErrNotFound) {
		if st, serr := s.Stat(ctx, p); serr == nil && st.IsDir() {
			return nil, xfer.FileMeta{}, xfer.Errorf(wire.NotRegular, p, "a directory")
		}
	}
	if err != nil {
		return nil, xfer.FileMeta{}, err
	}
	src := &s3Source{s: s, key: k, p: p, info: fi, bodies: map[int64]*s3Body{}}
	return src, xfer.MetaOf(fi), nil
}

// maxBodies bounds the GET responses a source keeps open for sequential
// reads (one per range being sent).
const maxBodies = 8

// s3Source reads one version of an object. A read continuing where an
// earlier one stopped goes on with that GET's body; any other opens a
// GET from its offset to the end.
type s3Source struct {
	s    *S3
	key  string
	p    string
	info *objInfo

	// mu guards the following fields.
	mu     sync.Mutex
	bodies map[int64]*s3Body // open GETs, by the offset they read next
	closed bool
}

type s3Body struct {
	rc     io.ReadCloser
	cancel context.CancelFunc
}

func (b *s3Body) close() {
	b.rc.Close()
	b.cancel()
}

// Stat returns the object as it was opened: a replacement is caught by
// the ETag of every GET.
func (src *s3Source) Stat() (fs.FileInfo, error) { return src.info, nil }

// ReadAt reads len(b) bytes at off (fewer, with io.EOF, at the end).
func (src *s3Source) ReadAt(b []byte, off int64) (int, error) {
	size := src.info.size
	if off >= size {
		return 0, io.EOF
	}
	want := b
	if int64(len(want)) > size-off {
		want = want[:size-off]
	}
	body, err := src.take(off)
	if err != nil {
		return 0, err
	}
	n, err := io.ReadFull(body.rc, want)
	if err != nil {
		body.close()
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			return n, xfer.Errorf(wire.SourceChanged, src.p, "the object ended early")
		}
		return n, ioError(err, src.p)
	}
	src.put(off+int64(n), body)
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

// take returns the open GET at off, or opens one.
func (src *s3Source) take(off int64) (*s3Body, error) {
	src.mu.Lock()
	if b, ok := src.bodies[off]; ok {
		delete(src.bodies, off)
		src.mu.Unlock()
		return b, nil
	}
	src.mu.Unlock()
	opts := minio.GetObjectOptions{}
	if err := opts.SetMatchETag(src.info.etag); err != nil {
		return nil, ioError(err, src.p)
	}
	if err := opts.SetRange(off, src.info.size-1); err != nil {
		return nil, ioError(err, src.p)
	}
	// The body outlives this call (later reads go on with it), so it
	// has a context of its own, cancelled when it is closed.
	ctx, cancel := context.WithCancel(context.Background())
	rc, _, _, err := src.s.api.GetObject(ctx, src.s.bucket, src.key, opts)
	if err != nil {
		cancel()
		if preconditionFailed(err) || notFound(err) {
			return nil, xfer.Errorf(wire.SourceChanged, src.p, "the object was replaced or removed during the transfer")
		}
		return nil, ioError(err, src.p)
	}
	return &s3Body{rc: rc, cancel: cancel}, nil
}

// put keeps b for a read at off, closing the oldest when too many are
// open.
func (src *s3Source) put(off int64, b *s3Body) {
	src.mu.Lock()
	defer src.mu.Unlock()
	if src.closed || off >= src.info.size {
		b.close()
		return
	}
	if old, ok := src.bodies[off]; ok {
		old.close()
	}
	if len(src.bodies) >= maxBodies {
		for o, ob := range src.bodies {
			ob.close()
			delete(src.bodies, o)
			break
		}
	}
	src.bodies[off] = b
}

// Close closes the GETs still open.
func (src *s3Source) Close() error {
	src.mu.Lock()
	defer src.mu.Unlock()
	src.closed = true
	for o, b := range src.bodies {
		b.close()
		delete(src.bodies, o)
	}
	return nil
}

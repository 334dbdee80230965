package session

import (
	"context"
	"crypto/sha256"
	"errors"
	"hash"
	"io"
	"io/fs"
	"os"
	"sync"

	"github.com/quic-go/quic-go"
)

// sender writes one outgoing file.
type sender struct {
	path     string // name used in errors
	file     *os.File
	meta     fileMeta  // as stat'ed when the transfer was offered
	offset   uint64    // first byte to send
	hash     hash.Hash // SHA-256 state of the first offset bytes (nil when offset is 0)
	progress func(n int)
	limit    *RateLimiter // optional
}

// openSource opens a local or root-relative file for sending and stats it.
// open is os.Open or (*os.Root).Open.
func openSource(open func(string) (*os.File, error), name, display string) (*os.File, fileMeta, error) {
	f, err := open(name)
	if err != nil {
		return nil, fileMeta{}, asError(err, display)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fileMeta{}, asError(err, display)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fileMeta{}, errorf(CodeNotRegular, display, "not a regular file")
	}
	return f, metaOf(fi), nil
}

func metaOf(fi fs.FileInfo) fileMeta {
	return fileMeta{Size: uint64(fi.Size()), Mode: fi.Mode().Perm(), MTime: fi.ModTime()}
}

// send writes the file body from s.offset and the whole-file SHA-256
// trailer to w. If the file turns
// out shorter or longer than announced, or its size or modification time
// changes while it is read, it fails with CodeSourceChanged: the receiver
// must not get a file that never existed.
func (s *sender) send(ctx context.Context, w io.Writer) error {
	h := s.hash
	if h == nil || s.offset == 0 {
		h = sha256.New()
		s.offset = 0
	}
	// A reader goroutine reads and hashes up to readAhead chunks ahead
	// of the stream writes, so disk reads and SHA-256 overlap with QUIC
	// packing instead of taking turns with it.
	chunks := make(chan readChunk, readAhead)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { s.readAhead(h, chunks, stop) })
	defer func() {
		close(stop)
		for c := range chunks {
			chunkPool.Put(c.buf)
		}
		wg.Wait()
	}()
	for c := range chunks {
		if c.n > 0 {
			wn, werr := s.limit.write(ctx, w, (*c.buf)[:c.n])
			chunkPool.Put(c.buf)
			if wn > 0 && s.progress != nil {
				// On a failed write, the accepted part may have
				// reached the receiver, and its durable offset.
				s.progress(wn)
			}
			if werr != nil {
				return streamWriteError(ctx, werr, s.path)
			}
		} else {
			chunkPool.Put(c.buf)
		}
		if c.err != nil {
			return c.err
		}
	}
	// The reader has finished (it closed chunks): h is complete.
	fi, err := s.file.Stat()
	if err != nil {
		return asError(err, s.path)
	}
	if now := metaOf(fi); now.Size != s.meta.Size || !now.MTime.Equal(s.meta.MTime) {
		return errorf(CodeSourceChanged, s.path, "file changed while being sent")
	}
	if _, err := s.limit.write(ctx, w, h.Sum(nil)); err != nil {
		return streamWriteError(ctx, err, s.path)
	}
	return nil
}

// readAhead is how many chunks the sender reads ahead of the stream.
const readAhead = 4

// readChunk is a chunk read and hashed, or the error that ended reading.
type readChunk struct {
	buf *[]byte
	n   int
	err error
}

// readAhead reads the file from s.offset into pooled chunks, hashing
// them into h in order, until the end, an error, or stop.
func (s *sender) readAhead(h hash.Hash, out chan<- readChunk, stop <-chan struct{}) {
	defer close(out)
	remaining := s.meta.Size - s.offset
	off := int64(s.offset)
	for remaining > 0 {
		bp := chunkPool.Get().(*[]byte)
		n := int(min(uint64(len(*bp)), remaining))
		m, err := s.file.ReadAt((*bp)[:n], off)
		h.Write((*bp)[:m])
		var rerr error
		if err != nil && !(err == io.EOF && m == n) {
			rerr = asError(err, s.path)
			if err == io.EOF {
				rerr = errorf(CodeSourceChanged, s.path, "file shrank while being sent")
			}
		}
		select {
		case out <- readChunk{buf: bp, n: m, err: rerr}:
		case <-stop:
			chunkPool.Put(bp)
			return
		}
		if rerr != nil {
			return
		}
		off += int64(m)
		remaining -= uint64(m)
	}
}

func streamWriteError(ctx context.Context, err error, p string) *Error {
	if ctx.Err() != nil {
		if e := causeError(ctx); e != nil {
			return withPath(e, p)
		}
	}
	return withPath(streamError(err), p)
}

// streamError maps an error from a QUIC stream or connection to an *Error:
// stream resets and application closes carry the peer's code.
func streamError(err error) *Error {
	var se *quic.StreamError
	if errors.As(err, &se) {
		return &Error{Code: ErrorCode(se.ErrorCode), Remote: se.Remote}
	}
	var ae *quic.ApplicationError
	if errors.As(err, &ae) {
		return &Error{Code: ErrorCode(ae.ErrorCode), Remote: ae.Remote, Msg: "connection closed: " + ae.ErrorMessage}
	}
	var it *quic.IdleTimeoutError
	if errors.As(err, &it) {
		return &Error{Code: CodeIOError, Msg: "connection timed out"}
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeIOError, Msg: err.Error()}
}

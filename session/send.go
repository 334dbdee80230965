package session

import (
	"context"
	"crypto/sha256"
	"errors"
	"hash"
	"io"
	"io/fs"
	"os"

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
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	buf := *bp
	h := s.hash
	if h == nil || s.offset == 0 {
		h = sha256.New()
		s.offset = 0
	}
	remaining := s.meta.Size - s.offset
	off := int64(s.offset)
	for remaining > 0 {
		n := len(buf)
		if uint64(n) > remaining {
			n = int(remaining)
		}
		m, err := s.file.ReadAt(buf[:n], off)
		if m > 0 {
			h.Write(buf[:m])
			if wn, werr := s.limit.write(ctx, w, buf[:m]); werr != nil {
				// The accepted part of the chunk may have reached
				// the receiver, and its durable offset: count it.
				if wn > 0 && s.progress != nil {
					s.progress(wn)
				}
				return streamWriteError(ctx, werr, s.path)
			}
			off += int64(m)
			remaining -= uint64(m)
			if s.progress != nil {
				s.progress(m)
			}
		}
		if err != nil && !(err == io.EOF && m == n) {
			if err == io.EOF {
				return errorf(CodeSourceChanged, s.path, "file shrank while being sent")
			}
			return asError(err, s.path)
		}
	}
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

package session

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"sync"
	"time"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// chunkSize is the read/write unit of the data path: big enough that
// syscalls and stream writes are amortised, small enough that a cancelled
// transfer stops promptly.
const chunkSize = 256 << 10

var chunkPool = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// fileMeta describes the source file of a transfer.
type fileMeta struct {
	Size  uint64
	Mode  fs.FileMode
	MTime time.Time
}

// destDecision is the outcome of checking a destination before receiving.
type destDecision int

const (
	destWrite    destDecision = iota // receive the file
	destUpToDate                     // identical file already there: send nothing
)

// checkDest decides what to do with destination p under root for a file
// described by m. A destination counts as up to date when it is a regular
// file of the same size and modification time (rsync's quick check; qxfer
// sets the mtime of every file it receives). Any other existing file is
// refused with CodeExists unless force is set; directories and other
// non-regular files are always refused. The parent directory is created,
// unless dirs (optional) says this caller has already made sure of it.
func checkDest(root *os.Root, p string, m fileMeta, force bool, dirs map[string]bool) (destDecision, error) {
	if p == "." {
		return 0, errorf(CodeNotRegular, p, "the root is a directory")
	}
	if dir := path.Dir(p); dir != "." && !dirs[dir] {
		if err := mkdirAll(root, dir, 0o755); err != nil {
			return 0, err
		}
		if dirs != nil && len(dirs) < maxKnownDirs {
			dirs[dir] = true
		}
	}
	fi, err := root.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return destWrite, nil
	case err != nil:
		return 0, asError(err, p)
	case !fi.Mode().IsRegular():
		return 0, errorf(CodeNotRegular, p, "destination exists and is not a regular file")
	case uint64(fi.Size()) == m.Size && fi.ModTime().Equal(m.MTime):
		return destUpToDate, nil
	case !force:
		return 0, errorf(CodeExists, p, "destination exists and differs (use --force to overwrite)")
	}
	return destWrite, nil
}

// maxKnownDirs bounds the directories a server session remembers as
// created.
const maxKnownDirs = 4096

// mkdirAll creates dir and its parents under root. A path element that
// exists but is not a directory is reported as CodeNotDirectory (os.Root
// reports it as "file exists", which would suggest --force could help).
func mkdirAll(root *os.Root, dir string, perm fs.FileMode) error {
	err := root.MkdirAll(dir, perm)
	if err == nil {
		return nil
	}
	if errors.Is(err, fs.ErrExist) {
		return errorf(CodeNotDirectory, dir, "a path element is not a directory")
	}
	return asError(err, dir)
}

// receiver writes one incoming file.
type receiver struct {
	root *os.Root
	path string // clean destination path under root
	meta fileMeta
	// offset is where the data stream starts; rec is the resume record
	// it continues (required when offset > 0).
	offset uint64
	rec    *resumeRecord
	// noRecord says the caller saw no resume record file: there is
	// nothing to remove unless this receiver writes one.
	noRecord bool
	// progress, if set, is called with the byte count of every chunk
	// written.
	progress func(n int)
	// limit, if set, paces the reads.
	limit *RateLimiter

	written uint64    // bytes of the .part so far
	durable uint64    // bytes covered by the last checkpoint (read after waitCheckpoint)
	hash    hash.Hash // SHA-256 of the first written bytes

	// A checkpoint during the copy runs in the background, so the fsync
	// of 32 MiB does not stall the stream: launched is the offset of the
	// last one started, pending is closed when it has finished.
	launched uint64
	pending  chan struct{}
	recorded bool // a record may have been written (read after waitCheckpoint)
}

// receive reads the file body and the SHA-256 trailer from r into the
// .part file, verifies the hash and renames the .part onto the destination.
// Every checkpointEvery bytes, and when the transfer stops early, the .part
// is synced and its resume record written, so a later transfer can continue
// from the durable offset. On a hash mismatch the .part and its record are
// removed (the content is known bad); on any other failure they are kept.
// The error is an *Error.
func (rc *receiver) receive(ctx context.Context, r io.Reader) error {
	f, err := rc.open()
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		rc.waitCheckpoint()
		if !closed {
			f.Close()
		}
	}()
	if err := rc.copyBody(ctx, f, r); err != nil {
		rc.checkpoint(f)
		return err
	}
	var trailer [wire.HashSize]byte
	if _, err := io.ReadFull(r, trailer[:]); err != nil {
		rc.checkpoint(f)
		return streamReadError(ctx, err, rc.path)
	}
	if n, err := r.Read(make([]byte, 1)); n > 0 || (err != nil && err != io.EOF) {
		if n > 0 {
			rc.waitCheckpoint()
			f.Close()
			closed = true
			removePartial(rc.root, rc.path)
			return errorf(CodeTooLong, rc.path, "sender sent more than the declared %d bytes", rc.meta.Size)
		}
		rc.checkpoint(f)
		return streamReadError(ctx, err, rc.path)
	}
	rc.waitCheckpoint()
	if sum := rc.hash.Sum(nil); !bytes.Equal(sum, trailer[:]) {
		f.Close()
		closed = true
		removePartial(rc.root, rc.path)
		return errorf(CodeHashMismatch, rc.path, "sha-256 of received data %x does not match sender's %x", sum[:8], trailer[:8])
	}
	_ = f.Chmod(rc.meta.Mode.Perm())
	if err := f.Sync(); err != nil {
		return asError(err, rc.path)
	}
	closed = true
	if err := f.Close(); err != nil {
		return asError(err, rc.path)
	}
	part := partName(rc.path)
	// Mode and times are best effort: some file systems (and Windows)
	// refuse parts of them, which must not fail a verified file.
	_ = rc.root.Chtimes(part, time.Now(), rc.meta.MTime)
	if err := rc.root.Rename(part, rc.path); err != nil {
		return asError(err, rc.path)
	}
	if !rc.noRecord || rc.recorded {
		rc.root.Remove(recordName(rc.path))
	}
	return nil
}

// open prepares the .part: at offset 0 the old record goes first (so a
// crash can never leave a record describing bytes that were replaced), then
// the file is truncated; when resuming, it is cut back to the durable
// offset and the hash continues from the record.
func (rc *receiver) open() (*os.File, error) {
	part := partName(rc.path)
	if rc.offset == 0 || rc.rec == nil {
		rc.offset = 0
		if rc.noRecord {
			// nothing to remove
		} else if err := rc.root.Remove(recordName(rc.path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, asError(err, rc.path)
		}
		f, err := rc.root.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return nil, asError(err, rc.path)
		}
		rc.hash = sha256.New()
		return f, nil
	}
	want, err := rc.rec.prefixHash()
	if err != nil || rc.rec.Offset != rc.offset {
		return nil, errorf(CodeInternal, rc.path, "resume record does not cover offset %d", rc.offset)
	}
	f, err := rc.root.OpenFile(part, os.O_RDWR, 0o600)
	if err != nil {
		return nil, asError(err, rc.path)
	}
	// The sender checked the record's prefix hash against its file; make
	// sure the bytes on disk are still the ones the record describes
	// before appending to them (the hash continues from these bytes, so a
	// .part changed behind the record's back would otherwise go unseen).
	h, err := hashPrefix(f, rc.offset)
	if err != nil || !bytes.Equal(h.Sum(nil), want) {
		f.Close()
		removePartial(rc.root, rc.path)
		return nil, errorf(CodeHashMismatch, rc.path, "partial file no longer matches its resume record; it was removed, send again to start over")
	}
	if err := f.Truncate(int64(rc.offset)); err != nil {
		f.Close()
		return nil, asError(err, rc.path)
	}
	if _, err := f.Seek(int64(rc.offset), io.SeekStart); err != nil {
		f.Close()
		return nil, asError(err, rc.path)
	}
	rc.hash, rc.written, rc.durable, rc.launched = h, rc.offset, rc.offset, rc.offset
	return f, nil
}

// checkpoint makes the bytes written so far durable and records them. It
// is best effort: a failed checkpoint only means a later resume starts
// earlier.
func (rc *receiver) checkpoint(f *os.File) {
	rc.waitCheckpoint()
	if rc.written == rc.durable || rc.hash == nil {
		return
	}
	if f.Sync() != nil {
		return
	}
	rec := &resumeRecord{Size: rc.meta.Size, MTime: rc.meta.MTime.UnixNano(), Offset: rc.written, State: hashState(rc.hash)}
	rc.recorded = true
	if saveRecord(rc.root, rc.path, rec) == nil {
		rc.durable = rc.written
	}
}

// checkpointAsync starts a checkpoint of the bytes written so far in the
// background, unless one is still running. The record it writes holds the
// offset and hash state of this moment: the fsync that precedes it covers
// at least those bytes.
func (rc *receiver) checkpointAsync(f *os.File) {
	if rc.pending != nil {
		select {
		case <-rc.pending:
		default:
			return // the previous one is still syncing
		}
	}
	rec := &resumeRecord{Size: rc.meta.Size, MTime: rc.meta.MTime.UnixNano(), Offset: rc.written, State: hashState(rc.hash)}
	rc.launched = rc.written
	rc.recorded = true
	done := make(chan struct{})
	rc.pending = done
	go func() {
		defer close(done)
		if f.Sync() == nil && saveRecord(rc.root, rc.path, rec) == nil {
			rc.durable = rec.Offset
		}
	}()
}

// waitCheckpoint waits for a background checkpoint to finish.
func (rc *receiver) waitCheckpoint() {
	if rc.pending != nil {
		<-rc.pending
		rc.pending = nil
	}
}

// copyBody copies the body (from offset to size) from r into the .part
// and the hash, checkpointing along the way.
func (rc *receiver) copyBody(ctx context.Context, f *os.File, r io.Reader) error {
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	buf := *bp
	remaining := rc.meta.Size - rc.offset
	for remaining > 0 {
		n := len(buf)
		if uint64(n) > remaining {
			n = int(remaining)
		}
		if rc.limit != nil {
			n = min(n, rc.limit.chunk())
		}
		m, err := io.ReadAtLeast(r, buf[:n], 1)
		if m > 0 {
			if _, werr := f.Write(buf[:m]); werr != nil {
				return asError(werr, rc.path)
			}
			rc.hash.Write(buf[:m])
			rc.written += uint64(m)
			remaining -= uint64(m)
			if rc.progress != nil {
				rc.progress(m)
			}
			if rc.written-rc.launched >= checkpointEvery {
				rc.checkpointAsync(f)
			}
			if perr := rc.limit.pace(ctx, m); perr != nil {
				return streamReadError(ctx, perr, rc.path)
			}
		}
		if err != nil {
			if err == io.EOF {
				return errorf(CodeTruncated, rc.path, "stream ended %d bytes short of the declared %d", remaining, rc.meta.Size)
			}
			return streamReadError(ctx, err, rc.path)
		}
	}
	return nil
}

// streamReadError turns an error from reading a data stream into an *Error:
// a reset by the peer carries its code; a cancelled context carries the
// cause the transfer was cancelled with.
func streamReadError(ctx context.Context, err error, p string) *Error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errorf(CodeTruncated, p, "stream ended before the sha-256 trailer")
	}
	if ctx.Err() != nil {
		if e := causeError(ctx); e != nil {
			return withPath(e, p)
		}
	}
	return withPath(streamError(err), p)
}

func withPath(e *Error, p string) *Error {
	if e.Path == p {
		return e
	}
	c := *e
	c.Path = p
	return &c
}

// causeError returns the *Error a context was cancelled with, if any.
func causeError(ctx context.Context) *Error {
	var e *Error
	if errors.As(context.Cause(ctx), &e) {
		return e
	}
	if ctx.Err() != nil {
		return &Error{Code: CodeCancelled, Msg: fmt.Sprint(context.Cause(ctx))}
	}
	return nil
}

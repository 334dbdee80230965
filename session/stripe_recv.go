package session

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"hash"
	"io"
	"io/fs"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// stripeReceiver assembles a striped file: range streams, on any
// connection of the pool and in any order, write their bytes at their
// offsets into one preallocated .part; a Seal brings the whole-file hash.
// When every byte is there and the Seal has come, the .part is hashed
// front to back, checked and renamed. Which ranges are durable is recorded
// beside the .part (a version 2 resume record), so an interrupted file
// resumes with exactly the ranges it lacks.
type stripeReceiver struct {
	root     *os.Root
	path     string
	meta     fileMeta
	ack      func(r wire.Range) // tells the sender a range is written
	progress func(n int)        // optional
	limit    *RateLimiter       // optional, paces reads

	f  *os.File
	wg sync.WaitGroup // range stream goroutines

	// mu guards the following fields.
	mu       sync.Mutex
	have     rangeSet // written (not necessarily durable)
	durable  rangeSet // covered by the last checkpoint
	unsynced uint64   // bytes written since the last checkpoint
	seal     []byte
	err      *Error // a fatal error: the transfer fails
	ended    bool   // wait has returned: new streams are refused
	streams  map[*quic.ReceiveStream]struct{}
	changed  chan struct{}
	ckpt     sync.Mutex // one checkpoint at a time

	// The whole-file hash follows the contiguous prefix while ranges
	// arrive (hashAlong), so little is left to hash at the end. claim
	// is how far the hasher may have read; a write below it (a range
	// sent twice) sets rehash, and the end hashes the whole file again.
	h      hash.Hash // owned by hashAlong until the goroutines end
	hashed uint64
	claim  uint64
	rehash bool
}

// openStripe prepares the .part of a striped transfer and returns the
// ranges already held: those of a matching resume record (either
// version), or none when starting over, in which case the .part is
// recreated at full size.
func openStripe(root *os.Root, p string, meta fileMeta, noResume bool) (*stripeReceiver, []wire.Range, error) {
	sr := &stripeReceiver{root: root, path: p, meta: meta, changed: make(chan struct{}), streams: map[*quic.ReceiveStream]struct{}{}}
	part := partName(p)
	if !noResume {
		if rec := loadRecord(root, p); rec.matches(meta) {
			f, err := root.OpenFile(part, os.O_RDWR, 0o600)
			if err == nil {
				sr.f = f
				sr.have = rec.held()
				sr.durable = rec.held()
				if fi, err := f.Stat(); err == nil && uint64(fi.Size()) != meta.Size {
					// A sequential .part is as long as its prefix.
					if err := preallocate(f, int64(meta.Size)); err != nil {
						f.Close()
						return nil, nil, asError(err, p)
					}
				}
				return sr, sr.have.ranges(), nil
			}
		}
	}
	// Starting over: the record goes first, so it never describes bytes
	// that were replaced.
	if err := root.Remove(recordName(p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, asError(err, p)
	}
	f, err := root.OpenFile(part, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, nil, asError(err, p)
	}
	if err := preallocate(f, int64(meta.Size)); err != nil {
		f.Close()
		root.Remove(part)
		return nil, nil, asError(err, p)
	}
	sr.f = f
	return sr, nil, nil
}

func (sr *stripeReceiver) signalLocked() {
	close(sr.changed)
	sr.changed = make(chan struct{})
}

// fail records a fatal error; wait returns it.
func (sr *stripeReceiver) fail(e *Error) {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	if sr.err == nil {
		sr.err = withPath(e, sr.path)
		sr.signalLocked()
	}
}

// setSeal records the sender's whole-file hash.
func (sr *stripeReceiver) setSeal(h []byte) {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	if sr.seal == nil {
		sr.seal = h
		sr.signalLocked()
	}
}

// run receives one range stream, whose header has been read, in a
// goroutine owned by sr. It returns false (and stops the stream) if the
// transfer has already ended.
func (sr *stripeReceiver) run(ctx context.Context, rs *quic.ReceiveStream, h wire.AnyHeader) bool {
	sr.mu.Lock()
	if sr.ended {
		sr.mu.Unlock()
		rs.CancelRead(quic.StreamErrorCode(CodeUpToDate))
		return false
	}
	sr.streams[rs] = struct{}{}
	sr.wg.Add(1)
	sr.mu.Unlock()
	go func() {
		defer sr.wg.Done()
		err := sr.receiveRange(ctx, rs, h)
		sr.mu.Lock()
		delete(sr.streams, rs)
		sr.mu.Unlock()
		if err != nil {
			rs.CancelRead(quic.StreamErrorCode(err.Code))
		}
	}()
	return true
}

// receiveRange writes one range stream's bytes at their offset. A stream
// the sender (or its connection) abandons is not an error: the sender
// sends the range again, elsewhere. A stream that ends early or runs long,
// or bytes that cannot be written, fail the transfer.
func (sr *stripeReceiver) receiveRange(ctx context.Context, r io.Reader, h wire.AnyHeader) *Error {
	if h.Offset > sr.meta.Size || h.Length > sr.meta.Size-h.Offset {
		e := errorf(CodeProtocolViolation, sr.path, "range %d+%d is outside the %d-byte file", h.Offset, h.Length, sr.meta.Size)
		sr.fail(e)
		return e
	}
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	buf := *bp
	off, remaining := h.Offset, h.Length
	for remaining > 0 {
		n := min(uint64(len(buf)), remaining)
		if sr.limit != nil {
			n = min(n, uint64(sr.limit.chunk()))
		}
		m, err := io.ReadAtLeast(r, buf[:n], 1)
		if m > 0 {
			if _, werr := sr.f.WriteAt(buf[:m], int64(off)); werr != nil {
				e := asError(werr, sr.path)
				sr.fail(e)
				return e
			}
			sr.written(off, uint64(m))
			off += uint64(m)
			remaining -= uint64(m)
			if sr.progress != nil {
				sr.progress(m)
			}
			if perr := sr.limit.pace(ctx, m); perr != nil {
				return streamReadError(ctx, perr, sr.path)
			}
		}
		if err != nil {
			if err == io.EOF {
				e := errorf(CodeTruncated, sr.path, "range stream at %d ended %d bytes short", h.Offset, remaining)
				sr.fail(e)
				return e
			}
			return streamReadError(ctx, err, sr.path) // abandoned: not fatal
		}
	}
	if n, err := r.Read(make([]byte, 1)); n > 0 {
		e := errorf(CodeTooLong, sr.path, "range stream at %d carried more than %d bytes", h.Offset, h.Length)
		sr.fail(e)
		return e
	} else if err != nil && err != io.EOF {
		return streamReadError(ctx, err, sr.path)
	}
	if sr.ack != nil && h.Length > 0 {
		sr.ack(wire.Range{Offset: h.Offset, Length: h.Length})
	}
	return nil
}

// written records n bytes at off and starts a checkpoint every
// checkpointEvery bytes. It runs on a range stream goroutine, so the wait
// group cannot be waited on yet.
func (sr *stripeReceiver) written(off, n uint64) {
	sr.mu.Lock()
	if off < sr.claim {
		sr.rehash = true // the hasher may have read the old bytes
	}
	before := sr.have.prefix()
	sr.have.add(off, n)
	sr.unsynced += n
	due := sr.unsynced >= checkpointEvery
	if due {
		sr.unsynced = 0
	}
	if sr.have.prefix() > before {
		sr.signalLocked() // the hasher can go on; maybe the file is complete
	}
	sr.mu.Unlock()
	if due {
		// In the background, so the fsync does not stall this
		// stream; the ranges go to the record only after it.
		sr.wg.Go(sr.checkpoint)
	}
}

// checkpoint makes the bytes written so far durable and records their
// ranges: the ranges are taken before the fsync, so the record never
// claims a byte the disk may not hold. Best effort, like the sequential
// receiver's.
func (sr *stripeReceiver) checkpoint() {
	sr.ckpt.Lock()
	defer sr.ckpt.Unlock()
	sr.mu.Lock()
	have := sr.have.ranges()
	same := slices.Equal(have, sr.durable.r)
	sr.mu.Unlock()
	if same || len(have) > wire.MaxRanges {
		return
	}
	if sr.f.Sync() != nil {
		return
	}
	rec := &resumeRecord{Version: stripedRecordVersion, Size: sr.meta.Size, MTime: sr.meta.MTime.UnixNano(), Ranges: have}
	if saveRecord(sr.root, sr.path, rec) == nil {
		sr.mu.Lock()
		sr.durable, _ = rangeSetOf(have, sr.meta.Size)
		sr.mu.Unlock()
	}
}

// stopStreams stops every range stream still running and waits for their
// goroutines; no stream starts afterwards.
func (sr *stripeReceiver) stopStreams(code ErrorCode) {
	sr.mu.Lock()
	sr.ended = true
	for rs := range sr.streams {
		rs.CancelRead(quic.StreamErrorCode(code))
	}
	sr.signalLocked() // wakes hashAlong
	sr.mu.Unlock()
	sr.wg.Wait()
}

// hashAlong hashes the .part front to back as far as its bytes are
// written, until the receiver ends. It runs in sr.wg.
func (sr *stripeReceiver) hashAlong() {
	buf := make([]byte, 1<<20)
	for {
		sr.mu.Lock()
		if sr.ended {
			sr.mu.Unlock()
			return
		}
		target := sr.have.prefix()
		from, ch := sr.hashed, sr.changed
		if target > from {
			sr.claim = target
		}
		sr.mu.Unlock()
		if target <= from {
			<-ch
			continue
		}
		for off := from; off < target; {
			n := min(uint64(len(buf)), target-off)
			k, err := sr.f.ReadAt(buf[:n], int64(off))
			sr.h.Write(buf[:k])
			off += uint64(k)
			sr.mu.Lock()
			sr.hashed = off
			if err != nil && uint64(k) < n {
				sr.rehash = true // the end hashes it all again
				sr.ended = true
			}
			ended := sr.ended
			sr.mu.Unlock()
			if ended {
				return
			}
		}
	}
}

// wait blocks until the file is complete and sealed, a fatal error, or ctx
// ends; then it finishes: verify and rename, or checkpoint and keep the
// .part for a resume (removing it when its content is known bad). The
// error is an *Error.
func (sr *stripeReceiver) wait(ctx context.Context) error {
	sr.h = sha256.New()
	sr.wg.Go(sr.hashAlong)
	for {
		sr.mu.Lock()
		done := sr.have.covers(sr.meta.Size) && sr.seal != nil
		ferr := sr.err
		ch := sr.changed
		sr.mu.Unlock()
		if ferr != nil {
			sr.stopStreams(ferr.Code)
			sr.checkpoint()
			sr.f.Close()
			if ferr.Code == CodeTooLong {
				removePartial(sr.root, sr.path)
			}
			return ferr
		}
		if done {
			// Ranges still arriving are duplicates of bytes already
			// written (sent again after a connection looked dead).
			sr.stopStreams(CodeUpToDate)
			return sr.finish()
		}
		select {
		case <-ch:
		case <-ctx.Done():
			e := causeError(ctx)
			sr.stopStreams(e.Code)
			sr.checkpoint()
			sr.f.Close()
			return withPath(e, sr.path)
		}
	}
}

// finish hashes the assembled .part, compares it with the seal, and
// renames it over the destination.
func (sr *stripeReceiver) finish() error {
	closed := false
	defer func() {
		if !closed {
			sr.f.Close()
		}
	}()
	// The stream goroutines and the hasher have ended: no lock needed.
	h, from := sr.h, sr.hashed
	if h == nil || sr.rehash {
		h, from = sha256.New(), 0
	}
	if _, err := io.Copy(h, io.NewSectionReader(sr.f, int64(from), int64(sr.meta.Size-from))); err != nil {
		return asError(err, sr.path)
	}
	if sum := h.Sum(nil); !bytes.Equal(sum, sr.seal) {
		sr.f.Close()
		closed = true
		removePartial(sr.root, sr.path)
		return errorf(CodeHashMismatch, sr.path, "sha-256 of the assembled file %x does not match the sender's %x", sum[:8], sr.seal[:8])
	}
	if err := sr.f.Sync(); err != nil {
		return asError(err, sr.path)
	}
	closed = true
	if err := sr.f.Close(); err != nil {
		return asError(err, sr.path)
	}
	part := partName(sr.path)
	_ = sr.root.Chmod(part, sr.meta.Mode.Perm())
	_ = sr.root.Chtimes(part, time.Now(), sr.meta.MTime)
	if err := sr.root.Rename(part, sr.path); err != nil {
		return asError(err, sr.path)
	}
	sr.root.Remove(recordName(sr.path))
	return nil
}

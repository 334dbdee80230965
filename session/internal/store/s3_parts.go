package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"io"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// The receiving side of a multipart upload (PROTOCOL.md, "Part-aligned
// pushes"). Its range streams are cut at the part boundaries, so each
// part comes whole from one stream, in any order, on any connection of
// the pool. A part is buffered until its stream has delivered it, then
// uploaded at once; parts are hashed into the whole-file hash in
// order, and recorded in the state object with the hash state after
// them, which frees their buffers and acks their ranges. The invariant:
// an acked range is in a part the state object records, so a resume
// (here or on another server) never offers bytes the store may not hold.
//
// Memory: at most Window part buffers per file (parts from the first
// one not yet hashed up to Window parts on), reserved from the server's
// MemoryBudget when the file's first range arrives.

// DefaultWindow is how many part buffers a multipart upload holds at
// once (PartAlign.Window): enough to keep a pool of a few connections
// busy while the first part uploads (4 × 8 MiB = 32 MiB per file).
const DefaultWindow = 4

// s3Part is one part being received or uploaded.
type s3Part struct {
	buf      []byte
	busy     bool // a range stream is filling it
	uploaded bool
	etag     string
}

// Align tells the sender how to cut its ranges: the part size and the
// window of a multipart upload, (0, 0) for a file stored with one
// PutObject (any ranges do).
func (w *s3Writer) Align() (partSize uint64, window int) {
	if !w.multi {
		return 0, 0
	}
	return w.part, w.window
}

// windowFor is the window of a file of parts of partSize bytes:
// DefaultWindow, fewer when that many parts would not fit the memory
// budget, at least 1.
func windowFor(partSize uint64) int {
	return max(1, min(DefaultWindow, int(MemoryBudget/partSize)))
}

// nparts is the number of parts of the file.
func (w *s3Writer) nparts() uint64 {
	return (w.cfg.Meta.Size + w.part - 1) / w.part
}

// receiveParts writes one range stream of a multipart upload, and
// returns the code to stop the stream with (NoError: read to its end).
// A range not cut at the part boundaries fails the transfer with
// RangeMisaligned.
func (w *s3Writer) receiveParts(ctx context.Context, r io.Reader, h wire.RangeHeader) xfer.ErrorCode {
	size, p, ps := w.cfg.Meta.Size, w.cfg.Path, w.part
	end := h.Offset + h.Length
	if h.Length == 0 || h.Offset%ps != 0 || (end%ps != 0 && end != size) {
		e := xfer.Errorf(wire.RangeMisaligned, p, "range %d+%d is not cut at the %d-byte parts of this upload", h.Offset, h.Length, ps)
		w.fail(e)
		return e.Code
	}
	w.mu.Lock()
	if end <= w.recorded*ps || (end == size && w.recorded == w.nparts()) {
		// Parts recorded already (a range sent again).
		w.mu.Unlock()
		w.ack(h)
		return wire.UpToDate
	}
	w.acks = append(w.acks, h)
	w.mu.Unlock()
	if err := w.reserve(ctx); err != nil {
		return xfer.CauseError(ctx).Code
	}
	for off := h.Offset; off < end; off += ps {
		k, n := off/ps, min(ps, size-off)
		pt, code := w.takePart(ctx, k)
		if code != wire.NoError {
			return code
		}
		if pt == nil {
			// Uploaded already: its bytes are not needed.
			if _, err := io.CopyN(io.Discard, r, int64(n)); err != nil {
				return w.streamFailed(ctx, err, off, n)
			}
			continue
		}
		var last *wire.RangeHeader // the range ends with this part
		if off+n == end {
			last = &h
		}
		if code := w.fillPart(ctx, r, pt, off, n, last); code != wire.NoError {
			return code
		}
	}
	if e := overrun(r, h.Offset, h.Length, p); e != nil {
		w.fail(e)
		return e.Code
	}
	return wire.NoError
}

// reserve takes the file's part buffers from the server's memory
// budget, once: Window buffers (fewer for a file of fewer parts).
func (w *s3Writer) reserve(ctx context.Context) error {
	n := min(int64(w.window), int64(w.nparts())) * int64(w.part)
	return w.reserveBytes(ctx, min(n, MemoryBudget))
}

// reserveBytes takes n bytes of the server's memory budget for this
// writer, once; release gives them back.
func (w *s3Writer) reserveBytes(ctx context.Context, n int64) error {
	w.resMu.Lock()
	defer w.resMu.Unlock()
	if w.held > 0 {
		return nil
	}
	if err := w.s.mem.Acquire(ctx, n); err != nil {
		return err
	}
	w.held = n
	return nil
}

// takePart waits until part k may be filled and marks it busy: nil when
// it has been uploaded already, or an error code when the transfer has
// ended. It waits while another stream fills the part (a range sent
// again after its connection died, before the server saw it die). A
// part Window parts or more past the first part not yet hashed fails the
// transfer with LimitExceeded: a sender keeping its window never sends
// one, and waiting for it unread would let its bytes fill the
// connection's flow-control window and starve the parts the file waits
// for.
func (w *s3Writer) takePart(ctx context.Context, k uint64) (*s3Part, xfer.ErrorCode) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		pt := w.parts[k]
		switch {
		case w.ended || w.err != nil:
			return nil, wire.UpToDate
		case k < w.hashed || (pt != nil && pt.uploaded):
			return nil, wire.NoError
		case k >= w.hashed+uint64(w.window):
			e := xfer.Errorf(wire.LimitExceeded, w.cfg.Path, "part %d is %d parts or more ahead of the first part not yet stored (the PartAlign window)", k, w.window)
			w.err = e
			w.signalLocked()
			return nil, e.Code
		case pt == nil:
			pt = &s3Part{busy: true}
			if n := len(w.spare); n > 0 {
				pt.buf, w.spare = w.spare[n-1], w.spare[:n-1]
			} else {
				pt.buf = make([]byte, 0, w.part)
				w.s.partsAllocated(1)
			}
			w.parts[k] = pt
			return pt, wire.NoError
		case !pt.busy:
			pt.busy = true
			return pt, wire.NoError
		}
		ch := w.changed
		w.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			w.mu.Lock()
			return nil, xfer.CauseError(ctx).Code
		}
		w.mu.Lock()
	}
}

// fillPart reads the n bytes of the part at off into pt, uploads it and
// records what can be recorded. A stream that fails leaves the part
// empty for the range sent again. last is the stream's range when this
// part ends it: a byte after it fails the transfer with TooLong before
// the part is uploaded.
func (w *s3Writer) fillPart(ctx context.Context, r io.Reader, pt *s3Part, off, n uint64, last *wire.RangeHeader) xfer.ErrorCode {
	buf := pt.buf[:0]
	for uint64(len(buf)) < n {
		m, err := io.ReadAtLeast(r, buf[len(buf):min(n, uint64(len(buf))+xfer.ChunkSize)], 1)
		buf = buf[:len(buf)+m]
		if m > 0 && w.cfg.Progress != nil {
			w.cfg.Progress(m)
		}
		if err != nil && uint64(len(buf)) < n {
			w.mu.Lock()
			pt.busy = false
			w.signalLocked()
			w.mu.Unlock()
			return w.streamFailed(ctx, err, off+uint64(len(buf)), n-uint64(len(buf)))
		}
	}
	if last != nil {
		// A stream longer than its range: the part is not uploaded.
		if e := overrun(r, last.Offset, last.Length, w.cfg.Path); e != nil {
			w.mu.Lock()
			pt.busy = false
			w.signalLocked()
			w.mu.Unlock()
			w.fail(e)
			return e.Code
		}
	}
	pt.buf = buf
	k := off / w.part
	sum := sha256.Sum256(buf)
	part, err := w.s.api.PutObjectPart(ctx, w.s.bucket, w.key, w.uploadID, int(k)+1, bytes.NewReader(buf), int64(len(buf)),
		minio.PutObjectPartOptions{Sha256Hex: hex.EncodeToString(sum[:])})
	if err != nil {
		e := ioError(err, w.cfg.Path)
		w.fail(e)
		return e.Code
	}
	w.mu.Lock()
	pt.busy, pt.uploaded, pt.etag = false, true, part.ETag
	w.signalLocked()
	w.mu.Unlock()
	if e := w.record(ctx); e != nil {
		w.fail(e)
		return e.Code
	}
	return wire.NoError
}

// streamFailed is the code of a range stream that ended or failed at
// off with left bytes of its part unread: a stream that ended early
// fails the transfer (Truncated); one the sender gave up is sent again.
func (w *s3Writer) streamFailed(ctx context.Context, err error, off, left uint64) xfer.ErrorCode {
	if err == io.EOF {
		e := xfer.Errorf(wire.Truncated, w.cfg.Path, "range stream at %d ended %d bytes short", off, left)
		w.fail(e)
		return e.Code
	}
	return xfer.StreamError(ctx, err, w.cfg.Path).Code
}

// record hashes the uploaded parts that follow the hashed prefix, in
// order, frees their buffers, checkpoints them in the state object and
// acks the ranges whose parts are all recorded. A state object another
// server has written since means it took the upload over: wire.Busy.
func (w *s3Writer) record(ctx context.Context) *xfer.Error {
	w.stMu.Lock()
	defer w.stMu.Unlock()
	var add []upPart
	for {
		w.mu.Lock()
		k := w.hashed
		pt := w.parts[k]
		ready := pt != nil && pt.uploaded
		w.mu.Unlock()
		if !ready {
			break
		}
		// An uploaded part is never taken again: its buffer is ours.
		w.h.Write(pt.buf)
		add = append(add, upPart{N: int(k) + 1, Size: uint64(len(pt.buf)), ETag: pt.etag})
		w.mu.Lock()
		delete(w.parts, k)
		w.spare = append(w.spare, pt.buf[:0])
		w.hashed++
		w.signalLocked()
		w.mu.Unlock()
	}
	if len(add) == 0 {
		return nil
	}
	st := *w.st
	st.Parts = append(append([]upPart(nil), w.st.Parts...), add...)
	var err error
	if st.Hash, err = w.h.(encoding.BinaryMarshaler).MarshalBinary(); err != nil {
		return ioError(err, w.cfg.Path)
	}
	st.Expires = time.Now().Add(w.s.leaseTTL)
	etag, err := w.s.saveState(ctx, w.sk, w.stETag, &st)
	if err != nil {
		if preconditionFailed(err) {
			return xfer.Errorf(wire.Busy, w.cfg.Path, "another server took this upload over")
		}
		return ioError(err, w.cfg.Path)
	}
	w.st, w.stETag = &st, etag
	w.mu.Lock()
	w.recorded = uint64(len(st.Parts))
	limit := w.recorded * w.part
	var acks []wire.RangeHeader
	kept := w.acks[:0]
	for _, h := range w.acks {
		if h.Offset+h.Length <= limit || (w.recorded == w.nparts()) {
			acks = append(acks, h)
		} else {
			kept = append(kept, h)
		}
	}
	w.acks = kept
	w.signalLocked()
	w.mu.Unlock()
	for _, h := range acks {
		w.ack(h)
	}
	return nil
}

// partCount counts the part buffers the multipart writers of a server
// have allocated: now and the most at once (S3.PartBuffers).
type partCount struct {
	mu        sync.Mutex
	now, peak int
}

// partsAllocated adds n (negative: freed) to the count of part buffers.
func (s *S3) partsAllocated(n int) {
	c := s.parts
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now += n
	c.peak = max(c.peak, c.now)
}

// PartBuffers returns how many part buffers the multipart writers of
// this server hold now and held at most at once, since it started: the
// memory they take is that many parts of PartSize bytes (for metrics
// and tests).
func (s *S3) PartBuffers() (now, peak int) {
	c := s.parts
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now, c.peak
}

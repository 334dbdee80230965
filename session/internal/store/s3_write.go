package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"hash"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/quic-go/quic-go"

	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// s3Writer assembles one object. Its bytes are written in order: a range
// stream waits (unread, so QUIC flow control holds its sender) until the
// bytes before it are written, then goes on at the end of the contiguous
// prefix, feeding the whole-file SHA-256 as it goes. A file of at most one
// part is buffered whole and stored with one PutObject once its hash
// matched the seal; a larger one is a multipart upload whose every part,
// once uploaded, is checkpointed in the state object with the hash state
// after it. The object appears only at CompleteMultipartUpload, after
// the hash matched; a mismatch aborts the upload.
type s3Writer struct {
	s     *S3
	cfg   WriterConfig
	key   string
	sk    string // the state object (multipart)
	owner string // this writer, in the lease
	part  uint64 // the part size of this file
	multi bool
	wg    sync.WaitGroup // range stream goroutines

	// The writing stream (the one holding writing), or Wait once the
	// streams have stopped, own the following fields.
	buf    []byte    // bytes after the uploaded parts (multipart), or the whole file
	held   int64     // bytes of S3.mem the buffer holds
	h      hash.Hash // SHA-256 of [0, cursor)
	st     *upState  // multipart: the state, as last saved
	stETag string

	// mu guards the following fields; changed is closed and replaced
	// when they move.
	mu      sync.Mutex
	changed chan struct{}
	cursor  uint64 // bytes written, from 0
	writing bool   // a stream is writing at cursor
	seal    []byte
	err     *xfer.Error
	ended   bool
	streams map[*quic.ReceiveStream]struct{}
}

// OpenWriter opens the writer of cfg.Path: a single PutObject for a file
// of at most one part, else a multipart upload, resumed from its state
// object when one matches the file and no other server's lease is live
// (then wire.Busy).
func (s *S3) OpenWriter(ctx context.Context, cfg WriterConfig) (Writer, xfer.Offer, error) {
	k, err := s.key(cfg.Path)
	if err != nil {
		return nil, xfer.Offer{}, err
	}
	w := &s3Writer{s: s, cfg: cfg, key: k, h: sha256.New(), changed: make(chan struct{}), streams: map[*quic.ReceiveStream]struct{}{}}
	if cfg.Meta.Size <= s.partSize {
		return w, xfer.Offer{}, nil
	}
	w.multi, w.sk, w.part = true, s.stateKey(k), s.partSizeOf(cfg.Meta.Size)
	var id [16]byte
	rand.Read(id[:])
	w.owner = hex.EncodeToString(id[:])
	offer, err := w.lease(ctx)
	if err != nil {
		return nil, xfer.Offer{}, ioError(err, cfg.Path)
	}
	return w, offer, nil
}

// lease takes the upload: it resumes the recorded one when it matches,
// or starts a new one, and writes the state object conditionally.
func (w *s3Writer) lease(ctx context.Context) (xfer.Offer, error) {
	s, p, m := w.s, w.cfg.Path, w.cfg.Meta
	st, etag, err := s.loadState(ctx, w.sk)
	if err != nil {
		return xfer.Offer{}, err
	}
	now := time.Now()
	if st != nil && st.live(w.owner, now) {
		return xfer.Offer{}, xfer.Errorf(wire.Busy, p, "another server is receiving this file")
	}
	if st != nil && !w.cfg.NoResume && w.matches(ctx, st) {
		if h, ok := restoreHash(st); ok {
			st.Owner, st.Expires = w.owner, now.Add(s.leaseTTL)
			if w.stETag, err = s.saveState(ctx, w.sk, etag, st); err != nil {
				return xfer.Offer{}, busyIfRaced(err, p)
			}
			w.st, w.h, w.cursor = st, h, st.held()
			if w.cursor == 0 {
				return xfer.Offer{}, nil
			}
			return xfer.Offer{Have: []wire.Range{{Offset: 0, Length: w.cursor}}, PrefixHash: h.Sum(nil)}, nil
		}
	}
	if st != nil && st.UploadID != "" {
		// Another version's upload, or one that cannot be resumed.
		_ = s.api.AbortMultipartUpload(ctx, s.bucket, w.key, st.UploadID)
	}
	opts := minio.PutObjectOptions{UserMetadata: userMeta(m)}
	uid, err := s.api.NewMultipartUpload(ctx, s.bucket, w.key, opts)
	if err != nil {
		return xfer.Offer{}, err
	}
	w.st = &upState{
		Key: w.key, Size: m.Size, MTime: m.MTime.UnixNano(), Mode: uint32(m.Mode.Perm()),
		UploadID: uid, PartSize: w.part, Owner: w.owner, Expires: now.Add(s.leaseTTL), Started: now,
	}
	if w.stETag, err = s.saveState(ctx, w.sk, etag, w.st); err != nil {
		_ = s.api.AbortMultipartUpload(ctx, s.bucket, w.key, uid)
		return xfer.Offer{}, busyIfRaced(err, p)
	}
	return xfer.Offer{}, nil
}

// partSizeOf is the part size of a size-byte file: the store's part
// size, or more (a multiple of 1 MiB) when the file would otherwise need
// more than S3's 10,000 parts.
func (s *S3) partSizeOf(size uint64) uint64 {
	const mib = 1 << 20
	need := (size + maxParts - 1) / maxParts
	need = (need + mib - 1) / mib * mib
	return max(s.partSize, need)
}

// restoreHash is the SHA-256 state st recorded after its parts.
func restoreHash(st *upState) (hash.Hash, bool) {
	h := sha256.New()
	if len(st.Parts) == 0 {
		return h, true
	}
	return h, h.(encoding.BinaryUnmarshaler).UnmarshalBinary(st.Hash) == nil
}

// busyIfRaced is err, a failed state write: wire.Busy when another
// server wrote the state object first.
func busyIfRaced(err error, p string) error {
	if preconditionFailed(err) {
		return xfer.Errorf(wire.Busy, p, "another server took this upload meanwhile")
	}
	return err
}

// matches reports whether st records an upload of this very file whose
// parts are all still in the store with their ETags (a part the store
// lost, or an upload aborted or expired, means starting over).
func (w *s3Writer) matches(ctx context.Context, st *upState) bool {
	m := w.cfg.Meta
	if st.Key != w.key || st.Size != m.Size || st.MTime != m.MTime.UnixNano() || st.PartSize != w.part || st.UploadID == "" {
		return false
	}
	stored := map[int]string{}
	marker := 0
	for {
		res, err := w.s.api.ListObjectParts(ctx, w.s.bucket, w.key, st.UploadID, marker, 1000)
		if err != nil {
			return false
		}
		for _, p := range res.ObjectParts {
			stored[p.PartNumber] = strings.Trim(p.ETag, `"`)
		}
		if !res.IsTruncated {
			break
		}
		marker = res.NextPartNumberMarker
	}
	for i, p := range st.Parts {
		if p.N != i+1 || stored[p.N] != strings.Trim(p.ETag, `"`) || (i < len(st.Parts)-1 && p.Size != st.PartSize) {
			return false
		}
	}
	return true
}

func (w *s3Writer) signalLocked() {
	close(w.changed)
	w.changed = make(chan struct{})
}

// fail records a fatal error; Wait returns it.
func (w *s3Writer) fail(e *xfer.Error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = xfer.WithPath(e, w.cfg.Path)
		w.signalLocked()
	}
}

// SetSeal records the sender's whole-file hash.
func (w *s3Writer) SetSeal(h []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seal == nil {
		w.seal = h
		w.signalLocked()
	}
}

// Receive takes one range stream and writes it in a goroutine of w.
func (w *s3Writer) Receive(ctx context.Context, rs *quic.ReceiveStream, h wire.RangeHeader) bool {
	w.mu.Lock()
	if w.ended {
		w.mu.Unlock()
		rs.CancelRead(quic.StreamErrorCode(wire.UpToDate))
		return false
	}
	w.streams[rs] = struct{}{}
	w.wg.Add(1)
	w.mu.Unlock()
	go func() {
		defer w.wg.Done()
		code := w.receiveRange(ctx, rs, h)
		w.mu.Lock()
		delete(w.streams, rs)
		w.mu.Unlock()
		if code != wire.NoError {
			rs.CancelRead(quic.StreamErrorCode(code))
		}
	}()
	return true
}

// receiveRange writes one range stream once the bytes before it are
// written, and returns the code to stop the stream with (NoError: read
// to its end).
func (w *s3Writer) receiveRange(ctx context.Context, r io.Reader, h wire.RangeHeader) xfer.ErrorCode {
	size, p := w.cfg.Meta.Size, w.cfg.Path
	if h.Offset > size || h.Length > size-h.Offset {
		w.fail(xfer.Errorf(wire.ProtocolViolation, p, "range %d+%d is outside the %d-byte file", h.Offset, h.Length, size))
		return wire.ProtocolViolation
	}
	end := h.Offset + h.Length
	w.mu.Lock()
	for {
		switch {
		case w.ended || w.err != nil:
			w.mu.Unlock()
			return wire.UpToDate
		case end <= w.cursor:
			// Bytes written already (a range sent again).
			w.mu.Unlock()
			w.ack(h)
			return wire.UpToDate
		case h.Offset <= w.cursor && !w.writing:
			w.writing = true
		default:
			ch := w.changed
			w.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return xfer.CauseError(ctx).Code
			}
			w.mu.Lock()
			continue
		}
		break
	}
	skip := w.cursor - h.Offset
	w.mu.Unlock()
	code := w.write(ctx, r, h.Offset, skip, end)
	w.mu.Lock()
	w.writing = false
	w.signalLocked()
	w.mu.Unlock()
	if code == wire.NoError {
		w.ack(h)
	}
	return code
}

// write reads the stream of the range [off, end) after skipping skip
// bytes already written, appending to the buffer and uploading each part
// as it fills.
func (w *s3Writer) write(ctx context.Context, r io.Reader, off, skip, end uint64) xfer.ErrorCode {
	p := w.cfg.Path
	if skip > 0 {
		if _, err := io.CopyN(io.Discard, r, int64(skip)); err != nil {
			return xfer.StreamError(ctx, err, p).Code
		}
	}
	limit := w.cfg.Meta.Size
	if w.multi {
		limit = w.part
	}
	if w.buf == nil {
		if err := w.s.mem.Acquire(ctx, int64(limit)); err != nil {
			return xfer.CauseError(ctx).Code
		}
		w.held = int64(limit)
		w.buf = make([]byte, 0, limit)
	}
	pos := off + skip
	for pos < end {
		n := min(uint64(xfer.ChunkSize), end-pos, limit-uint64(len(w.buf)))
		b := w.buf[len(w.buf) : uint64(len(w.buf))+n]
		m, err := io.ReadAtLeast(r, b, 1)
		if m > 0 {
			w.h.Write(b[:m])
			w.buf = w.buf[:len(w.buf)+m]
			pos += uint64(m)
			w.mu.Lock()
			w.cursor = pos
			w.mu.Unlock()
			if w.cfg.Progress != nil {
				w.cfg.Progress(m)
			}
			if w.multi && uint64(len(w.buf)) == limit && pos < w.cfg.Meta.Size {
				if e := w.uploadPart(ctx); e != nil {
					w.fail(e)
					return e.Code
				}
			}
		}
		if err != nil && pos < end {
			if err == io.EOF {
				e := xfer.Errorf(wire.Truncated, p, "range stream at %d ended %d bytes short", off, end-pos)
				w.fail(e)
				return e.Code
			}
			// The sender (or its connection) gave the stream up: it
			// sends the range again, and that goes on from cursor.
			return xfer.StreamError(ctx, err, p).Code
		}
	}
	return wire.NoError
}

// uploadPart uploads the buffer as the next part, with its SHA-256 for
// the store to check, and checkpoints it in the state object with the
// hash state after it. A state object another server has written since
// means it took the upload over: this writer stops with wire.Busy.
func (w *s3Writer) uploadPart(ctx context.Context) *xfer.Error {
	s, p := w.s, w.cfg.Path
	sum := sha256.Sum256(w.buf)
	n := len(w.st.Parts) + 1
	part, err := s.api.PutObjectPart(ctx, s.bucket, w.key, w.st.UploadID, n, bytes.NewReader(w.buf), int64(len(w.buf)),
		minio.PutObjectPartOptions{Sha256Hex: hex.EncodeToString(sum[:])})
	if err != nil {
		return ioError(err, p)
	}
	st := *w.st
	st.Parts = append(append([]upPart(nil), w.st.Parts...), upPart{N: n, Size: uint64(len(w.buf)), ETag: part.ETag})
	if st.Hash, err = w.h.(encoding.BinaryMarshaler).MarshalBinary(); err != nil {
		return ioError(err, p)
	}
	st.Expires = time.Now().Add(s.leaseTTL)
	etag, err := s.saveState(ctx, w.sk, w.stETag, &st)
	if err != nil {
		if preconditionFailed(err) {
			return xfer.Errorf(wire.Busy, p, "another server took this upload over")
		}
		return ioError(err, p)
	}
	w.st, w.stETag = &st, etag
	w.buf = w.buf[:0]
	return nil
}

func (w *s3Writer) ack(h wire.RangeHeader) {
	if w.cfg.Ack != nil {
		w.cfg.Ack(wire.Range{Offset: h.Offset, Length: h.Length})
	}
}

// stopStreams stops the range streams still running and waits for them.
func (w *s3Writer) stopStreams(code xfer.ErrorCode) {
	w.mu.Lock()
	w.ended = true
	for rs := range w.streams {
		rs.CancelRead(quic.StreamErrorCode(code))
	}
	w.signalLocked()
	w.mu.Unlock()
	w.wg.Wait()
}

// Wait blocks until the file is complete and sealed, then commits it (or
// aborts it on a hash mismatch); on a fatal error or the end of ctx it
// keeps the upload for a resume (or aborts it when its bytes can never be
// used) and releases the lease. While it waits it renews the lease.
func (w *s3Writer) Wait(ctx context.Context) error {
	defer w.release()
	size := w.cfg.Meta.Size
	renew := time.NewTicker(w.s.leaseTTL / 3)
	defer renew.Stop()
	for {
		w.mu.Lock()
		done := w.cursor == size && w.seal != nil && !w.writing
		ferr, ch := w.err, w.changed
		w.mu.Unlock()
		if ferr != nil {
			w.stopStreams(ferr.Code)
			w.end(ferr.Code)
			return ferr
		}
		if done {
			w.stopStreams(wire.UpToDate)
			return w.finish(ctx)
		}
		select {
		case <-ch:
		case <-renew.C:
			w.renew(ctx)
		case <-ctx.Done():
			e := xfer.CauseError(ctx)
			w.stopStreams(e.Code)
			w.end(e.Code)
			return xfer.WithPath(e, w.cfg.Path)
		}
	}
}

// release gives the buffer's memory back; the streams have stopped.
func (w *s3Writer) release() {
	w.buf = nil
	if w.held > 0 {
		w.s.mem.Release(w.held)
		w.held = 0
	}
}

// renew extends the lease while no part is being written.
func (w *s3Writer) renew(ctx context.Context) {
	if !w.multi {
		return
	}
	w.mu.Lock()
	idle := !w.writing && !w.ended
	if idle {
		w.writing = true // keeps the streams off the state meanwhile
	}
	w.mu.Unlock()
	if !idle {
		return
	}
	st := *w.st
	st.Expires = time.Now().Add(w.s.leaseTTL)
	etag, err := w.s.saveState(ctx, w.sk, w.stETag, &st)
	w.mu.Lock()
	w.writing = false
	w.signalLocked()
	w.mu.Unlock()
	switch {
	case err == nil:
		w.st, w.stETag = &st, etag
	case preconditionFailed(err):
		w.fail(xfer.Errorf(wire.Busy, w.cfg.Path, "another server took this upload over"))
	}
}

// end closes a transfer that failed with code: its upload is aborted
// when its bytes can never be used (as xfer's discard codes), else the
// lease is released and the parts stay for a resume.
func (w *s3Writer) end(code xfer.ErrorCode) {
	if !w.multi || code == wire.Busy {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	switch code {
	case wire.SourceChanged, wire.HashMismatch, wire.TooLong, wire.NoSpace:
		w.abort(ctx)
		return
	}
	w.releaseLease(ctx)
}

// abort aborts the multipart upload and removes its state object.
func (w *s3Writer) abort(ctx context.Context) {
	_ = w.s.api.AbortMultipartUpload(ctx, w.s.bucket, w.key, w.st.UploadID)
	_ = w.s.api.RemoveObject(ctx, w.s.bucket, w.sk, minio.RemoveObjectOptions{})
}

// finish compares the hash with the seal and stores the object: one
// PutObject, or the last part and CompleteMultipartUpload, refusing to
// replace an object unless Force.
func (w *s3Writer) finish(ctx context.Context) error {
	s, p, m := w.s, w.cfg.Path, w.cfg.Meta
	sum := w.h.Sum(nil)
	if !bytes.Equal(sum, w.seal) {
		if w.multi {
			w.abort(ctx)
		}
		return xfer.Errorf(wire.HashMismatch, p, "sha-256 of the received file %x does not match the sender's %x", sum[:8], w.seal[:min(8, len(w.seal))])
	}
	opts := minio.PutObjectOptions{UserMetadata: userMeta(m)}
	if !w.cfg.Force {
		opts.SetMatchETagExcept("*")
	}
	if !w.multi {
		_, err := s.api.PutObject(ctx, s.bucket, w.key, bytes.NewReader(w.buf), int64(len(w.buf)), "", hex.EncodeToString(sum), opts)
		if preconditionFailed(err) {
			return xfer.Errorf(wire.Exists, p, "the destination appeared meanwhile (use --force to overwrite)")
		}
		if err != nil {
			return ioError(err, p)
		}
		return nil
	}
	if len(w.buf) > 0 || len(w.st.Parts) == 0 {
		if e := w.uploadPart(ctx); e != nil {
			w.end(e.Code)
			return e
		}
	}
	parts := make([]minio.CompletePart, len(w.st.Parts))
	for i, pt := range w.st.Parts {
		parts[i] = minio.CompletePart{PartNumber: pt.N, ETag: pt.ETag}
	}
	// Complete takes no user metadata: it came with the upload.
	copts := minio.PutObjectOptions{}
	if !w.cfg.Force {
		copts.SetMatchETagExcept("*")
	}
	if _, err := s.api.CompleteMultipartUpload(ctx, s.bucket, w.key, w.st.UploadID, parts, copts); err != nil {
		w.end(wire.Interrupted)
		if preconditionFailed(err) {
			return xfer.Errorf(wire.Exists, p, "the destination appeared meanwhile (use --force to overwrite)")
		}
		return ioError(err, p)
	}
	_ = s.api.RemoveObject(ctx, s.bucket, w.sk, minio.RemoveObjectOptions{})
	return nil
}

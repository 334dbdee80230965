package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding"
	"encoding/hex"
	"hash"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/quic-go/quic-go"

	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// s3Writer assembles one object. A file of at most one part is
// buffered whole and stored with one PutObject once its hash matched the
// seal: its bytes are written in order, a range stream waiting (unread,
// so QUIC flow control holds its sender) until the bytes before it are
// written, then going on at the end of the contiguous prefix, feeding the
// whole-file hash as it goes. A larger one is a multipart upload whose
// ranges are cut at the part boundaries (s3_parts.go): each part is
// uploaded once whole, then hashed in order and checkpointed in the state
// object with the hash state after it. The object appears only at
// CompleteMultipartUpload, after the hash matched; a mismatch aborts the
// upload.
type s3Writer struct {
	s        *S3
	cfg      WriterConfig
	key      string
	sk       string // the state object (multipart)
	owner    string // this writer, in the lease
	part     uint64 // the part size of this file
	multi    bool
	window   int            // multipart: part buffers at once
	uploadID string         // multipart
	wg       sync.WaitGroup // range stream goroutines

	// One object: the writing stream (the one holding writing), or Wait
	// once the streams have stopped, own buf and h. Multipart: stMu
	// guards h, st and stETag.
	buf    []byte    // the whole file (one object)
	h      hash.Hash // file hash of [0, cursor), or of the hashed parts
	stMu   sync.Mutex
	st     *upState // multipart: the state, as last saved
	stETag string

	// resMu guards held: bytes of S3.mem the writer holds.
	resMu sync.Mutex
	held  int64

	// mu guards the following fields; changed is closed and replaced
	// when they move.
	mu      sync.Mutex
	changed chan struct{}
	cursor  uint64 // one object: bytes written, from 0
	writing bool   // one object: a stream is writing at cursor
	seal    []byte
	err     *xfer.Error
	ended   bool
	streams map[*quic.ReceiveStream]struct{}
	// Multipart: the parts being received or uploaded (by index from 0),
	// how many leading parts are hashed and recorded, buffers to reuse,
	// and the ranges to ack once their parts are recorded.
	parts    map[uint64]*s3Part
	hashed   uint64
	recorded uint64
	spare    [][]byte
	acks     []wire.RangeHeader
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
	w := &s3Writer{s: s, cfg: cfg, key: k, h: xfer.NewFileHash(), changed: make(chan struct{}), streams: map[*quic.ReceiveStream]struct{}{}, parts: map[uint64]*s3Part{}}
	if cfg.Meta.Size <= s.partSize {
		return w, xfer.Offer{}, nil
	}
	w.multi, w.sk, w.part = true, s.stateKey(k), s.partSizeOf(cfg.Meta.Size)
	w.window = windowFor(w.part)
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
			w.st, w.h, w.uploadID = st, h, st.UploadID
			w.hashed, w.recorded = uint64(len(st.Parts)), uint64(len(st.Parts))
			if len(st.Parts) == 0 {
				return xfer.Offer{}, nil
			}
			return xfer.Offer{Have: []wire.Range{{Offset: 0, Length: st.held()}}, PrefixHash: h.Sum(nil)}, nil
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
	w.uploadID = uid
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

// restoreHash is the file hash state st recorded after its parts.
func restoreHash(st *upState) (hash.Hash, bool) {
	h := xfer.NewFileHash()
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
		var code xfer.ErrorCode
		if size := w.cfg.Meta.Size; h.Offset > size || h.Length > size-h.Offset {
			code = wire.ProtocolViolation
			w.fail(xfer.Errorf(code, w.cfg.Path, "range %d+%d is outside the %d-byte file", h.Offset, h.Length, size))
		} else if w.multi {
			code = w.receiveParts(ctx, rs, h)
		} else {
			code = w.receiveRange(ctx, rs, h)
		}
		w.mu.Lock()
		delete(w.streams, rs)
		w.mu.Unlock()
		if code != wire.NoError {
			rs.CancelRead(quic.StreamErrorCode(code))
		}
	}()
	return true
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
		done := w.seal != nil && ((!w.multi && w.cursor == size && !w.writing) || (w.multi && w.recorded == w.nparts()))
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
	w.mu.Lock()
	n := len(w.parts) + len(w.spare)
	w.buf, w.parts, w.spare = nil, nil, nil
	w.mu.Unlock()
	if w.multi {
		w.s.partsAllocated(-n)
	}
	w.resMu.Lock()
	defer w.resMu.Unlock()
	if w.held > 0 {
		w.s.mem.Release(w.held)
		w.held = 0
	}
}

// renew extends the lease (between two checkpoints of parts).
func (w *s3Writer) renew(ctx context.Context) {
	if !w.multi {
		return
	}
	w.stMu.Lock()
	st := *w.st
	st.Expires = time.Now().Add(w.s.leaseTTL)
	etag, err := w.s.saveState(ctx, w.sk, w.stETag, &st)
	switch {
	case err == nil:
		w.st, w.stETag = &st, etag
	case preconditionFailed(err):
		defer w.fail(xfer.Errorf(wire.Busy, w.cfg.Path, "another server took this upload over"))
	}
	w.stMu.Unlock()
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

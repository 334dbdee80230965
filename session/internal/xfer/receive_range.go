package xfer

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// Receive takes one range stream, whose header h has been read, and
// writes it in a goroutine owned by rc until ctx ends. It returns false,
// and stops the stream, if the transfer has already ended.
func (rc *Receiver) Receive(ctx context.Context, rs *quic.ReceiveStream, h wire.RangeHeader) bool {
	rc.ph.mu.Lock()
	if rc.ended {
		rc.ph.mu.Unlock()
		rs.CancelRead(quic.StreamErrorCode(wire.UpToDate))
		return false
	}
	rc.streams[rs] = struct{}{}
	rc.wg.Add(1)
	rc.ph.mu.Unlock()
	go func() {
		defer rc.wg.Done()
		err := rc.receiveRange(ctx, rs, h)
		rc.ph.mu.Lock()
		delete(rc.streams, rs)
		rc.ph.mu.Unlock()
		if err != nil {
			rs.CancelRead(quic.StreamErrorCode(err.Code))
		}
	}()
	return true
}

// receiveLinger is how long a range stream of a small file (one buffer
// holds it) that has bytes to write waits for more before it writes
// them: a read returns what the connection has reassembled, often a few
// packets, and a small file took four pwrite calls, each with its hash
// and bookkeeping round under the receiver's lock, on the Linux kernel's
// tree (issue 17). Bytes that arrive slower than that are written as
// they come, so what a stalled or slow sender sent is on disk (and in the
// progress) within receiveLinger.
const receiveLinger = 20 * time.Millisecond

// readDeadliner is a range stream that can bound a read in time
// (*quic.ReceiveStream).
type readDeadliner interface{ SetReadDeadline(t time.Time) error }

// fill reads into buf[:n], whose first m bytes are read, until it is full
// or receiveLinger has passed, and returns the bytes it holds and the
// error that ended the stream (nil for a full buffer or the time limit).
func fill(r io.Reader, buf []byte, m, n int) (int, error) {
	dl, ok := r.(readDeadliner)
	if !ok || m >= n {
		return m, nil
	}
	dl.SetReadDeadline(time.Now().Add(receiveLinger))
	k, err := io.ReadAtLeast(r, buf[m:n], n-m)
	dl.SetReadDeadline(time.Time{})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = nil
	} else if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	return m + k, err
}

// receiveRange writes one range stream's bytes at their offset. A stream
// the sender (or its connection) abandons is not an error: the sender
// sends the range again, elsewhere. A stream that ends early or runs long,
// or bytes that cannot be written, fail the transfer.
func (rc *Receiver) receiveRange(ctx context.Context, r io.Reader, h wire.RangeHeader) *Error {
	size, p := rc.cfg.Meta.Size, rc.cfg.Path
	if h.Offset > size || h.Length > size-h.Offset {
		e := Errorf(wire.ProtocolViolation, p, "range %d+%d is outside the %d-byte file", h.Offset, h.Length, size)
		rc.Fail(e)
		return e
	}
	rc.ph.mu.Lock()
	copied := rc.delta && rc.deltaHave.NextFrom(h.Offset, h.Offset+h.Length) < h.Offset+h.Length
	rc.ph.mu.Unlock()
	if copied {
		// A delta's Seal covers only the bytes outside the offer: bytes
		// sent into a copied chunk would never be checked.
		e := Errorf(wire.ProtocolViolation, p, "range %d+%d overlaps the chunks the delta copied", h.Offset, h.Length)
		rc.Fail(e)
		return e
	}
	bp := getChunk(h.Length)
	defer putChunk(bp)
	buf := *bp
	limit := rc.cfg.Limit
	// Only a range one buffer holds lingers (a small file): a bigger
	// one fills its buffers fast enough, and the read deadline of each
	// chunk cost a 1 GiB push 6% of its time on loopback.
	small := h.Length <= uint64(len(buf))
	off, remaining := h.Offset, h.Length
	for remaining > 0 {
		n := min(uint64(len(buf)), remaining)
		if limit != nil {
			n = min(n, uint64(limit.chunk()))
		}
		m, err := io.ReadAtLeast(r, buf[:n], 1)
		if err == nil && limit == nil && small {
			m, err = fill(r, buf, m, int(n))
		}
		if m > 0 {
			if _, werr := rc.f.WriteAt(buf[:m], int64(off)); werr != nil {
				e := AsError(werr, p)
				rc.Fail(e)
				return e
			}
			rc.written(off, buf[:m])
			off += uint64(m)
			remaining -= uint64(m)
			if rc.cfg.Progress != nil {
				rc.cfg.Progress(m)
			}
			if perr := limit.pace(ctx, m); perr != nil {
				return StreamError(ctx, perr, p)
			}
		}
		if err != nil {
			if err == io.EOF {
				e := Errorf(wire.Truncated, p, "range stream at %d ended %d bytes short", h.Offset, remaining)
				rc.Fail(e)
				return e
			}
			return StreamError(ctx, err, p) // abandoned: not fatal
		}
	}
	if n, err := r.Read(make([]byte, 1)); n > 0 {
		e := Errorf(wire.TooLong, p, "range stream at %d carried more than %d bytes", h.Offset, h.Length)
		rc.Fail(e)
		return e
	} else if err != nil && err != io.EOF {
		return StreamError(ctx, err, p)
	}
	if h.Length > 0 {
		rc.ph.mu.Lock()
		rc.whole.Add(h.Offset, h.Length)
		rc.ph.signalLocked()
		rc.ph.mu.Unlock()
		if rc.cfg.Ack != nil {
			rc.cfg.Ack(wire.Range{Offset: h.Offset, Length: h.Length})
		}
	}
	return nil
}

// written records the bytes b just written at off, hashes them if they
// are next in line, and starts a checkpoint every CheckpointEvery bytes.
func (rc *Receiver) written(off uint64, b []byte) {
	n := uint64(len(b))
	rc.ph.mu.Lock()
	if off < max(rc.claim, rc.ph.n) {
		rc.rehash = true // the hash may hold the old bytes
	}
	before := rc.have.Prefix()
	rc.have.Add(off, n)
	if !rc.delta {
		rc.ph.offerLocked(off, b)
	}
	rc.unsynced += n
	due := rc.unsynced >= CheckpointEvery
	if due {
		rc.unsynced = 0
	}
	if rc.have.Prefix() > before {
		rc.ph.signalLocked() // the hasher can go on; maybe the file is complete
	}
	rc.ph.mu.Unlock()
	if due {
		// In the background, so the fsync does not stall this stream;
		// the ranges go to the record only after it.
		rc.wg.Go(rc.checkpoint)
	}
}

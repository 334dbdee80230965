package store

import (
	"context"
	"io"

	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// The receiving side of a file of at most one part, stored with one
// PutObject: the whole file is buffered, its bytes written in order.

// receiveRange writes one range stream once the bytes before it are
// written, and returns the code to stop the stream with (NoError: read
// to its end).
func (w *s3Writer) receiveRange(ctx context.Context, r io.Reader, h wire.RangeHeader) xfer.ErrorCode {
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
// bytes already written, appending to the buffer of the whole file.
func (w *s3Writer) write(ctx context.Context, r io.Reader, off, skip, end uint64) xfer.ErrorCode {
	p := w.cfg.Path
	if skip > 0 {
		if _, err := io.CopyN(io.Discard, r, int64(skip)); err != nil {
			return xfer.StreamError(ctx, err, p).Code
		}
	}
	limit := w.cfg.Meta.Size
	if w.buf == nil {
		if err := w.reserveBytes(ctx, int64(limit)); err != nil {
			return xfer.CauseError(ctx).Code
		}
		w.buf = make([]byte, 0, limit)
	}
	pos := off + skip
	for pos < end {
		n := min(uint64(xfer.ChunkSize), end-pos)
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
	if e := overrun(r, off, end-off, p); e != nil {
		w.fail(e)
		return e.Code
	}
	return wire.NoError
}

// overrun reads past the end of the range [off, off+length) a stream
// carried: a byte there fails the transfer with TooLong, as on a
// directory root (xfer's receiveRange): the sender broke the framing,
// so the bytes before are suspect too. A stream the sender gave up
// there is no error: its range is whole.
func overrun(r io.Reader, off, length uint64, p string) *xfer.Error {
	if n, _ := r.Read(make([]byte, 1)); n > 0 {
		return xfer.Errorf(wire.TooLong, p, "range stream at %d carried more than %d bytes", off, length)
	}
	return nil
}

package xfer

import (
	"context"
	"io"
	"sync"

	"github.com/quic-go/quic-go"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// readAhead is how many chunks a range sender reads ahead of its stream,
// so disk reads and hashing overlap with QUIC packing. Two overlap them as
// well as four did, and hold 512 KiB less per file moving (issue 17: a
// client's memory bounded by the work in flight; eight big files held up
// to 12 MB of chunks).
const readAhead = 2

// readChunk is a chunk read (and hashed when next in line), or the error
// that ended reading.
type readChunk struct {
	buf *[]byte
	n   int
	err *Error
}

// sendRange writes one range on a new stream of m. stream says a failure
// came from the stream or its connection (the error's Remote flag then
// says the receiver stopped the stream or closed the connection), not
// from reading our file.
func (sd *Sender) sendRange(ctx context.Context, m *Member, r wire.Range) (err *Error, stream bool) {
	cfg := &sd.cfg
	defer func() {
		// This attempt offers no more bytes: hashFile reads what it
		// missed.
		sd.ph.mu.Lock()
		sd.unsent.Remove(r.Offset, r.Length)
		sd.ph.signalLocked()
		sd.ph.mu.Unlock()
	}()
	ws, oerr := m.Conn.OpenUniStreamSync(ctx)
	if oerr != nil {
		return StreamError(ctx, oerr, cfg.Path), true
	}
	stop := context.AfterFunc(ctx, func() { ws.CancelWrite(quic.StreamErrorCode(CauseError(ctx).Code)) })
	defer stop()
	if _, err := ws.Write(wire.AppendRangeHeader(nil, wire.RangeHeader{ID: cfg.ID, Offset: r.Offset, Length: r.Length})); err != nil {
		return StreamError(ctx, err, cfg.Path), true
	}
	chunks := make(chan readChunk, readAhead)
	done := make(chan struct{})
	var wg sync.WaitGroup
	if r.Length <= ChunkSize {
		sd.read(r, chunks, done) // one chunk: nothing to overlap
	} else {
		wg.Go(func() { sd.read(r, chunks, done) })
	}
	defer func() {
		close(done)
		for c := range chunks {
			putChunk(c.buf)
		}
		wg.Wait()
	}()
	for c := range chunks {
		if c.n > 0 {
			wn, werr := cfg.Limit.write(ctx, ws, (*c.buf)[:c.n])
			if wn > 0 && cfg.Progress != nil {
				cfg.Progress(wn)
			}
			if werr != nil {
				putChunk(c.buf)
				return StreamError(ctx, werr, cfg.Path), true
			}
		}
		putChunk(c.buf)
		if c.err != nil {
			ws.CancelWrite(quic.StreamErrorCode(c.err.Code))
			return c.err, false
		}
	}
	if err := ws.Close(); err != nil {
		// Close fails, with a plain error, on a stream the receiver
		// has already stopped; the stop carries the code.
		if cause := context.Cause(ws.Context()); cause != nil {
			err = cause
		}
		return StreamError(ctx, err, cfg.Path), true
	}
	return nil, false
}

// isConnClose reports whether e is the close of a whole connection (its
// ranges go elsewhere) rather than the stop of one stream.
func isConnClose(e *Error) bool { return e.conn }

// read reads range r into pooled chunks, offering each to the prefix
// hash, until the end of r, an error, or done.
func (sd *Sender) read(r wire.Range, out chan<- readChunk, done <-chan struct{}) {
	defer close(out)
	cfg := &sd.cfg
	off, remaining := r.Offset, r.Length
	for remaining > 0 {
		bp := getChunk(remaining)
		n := min(uint64(len(*bp)), remaining)
		m, err := cfg.File.ReadAt((*bp)[:n], int64(off))
		var rerr *Error
		if uint64(m) < n {
			rerr = AsError(err, cfg.Path)
			if err == nil || err == io.EOF {
				rerr = Errorf(wire.SourceChanged, cfg.Path, "file shrank while being sent")
			}
		} else {
			sd.ph.offer(off, (*bp)[:m])
		}
		select {
		case out <- readChunk{buf: bp, n: m, err: rerr}:
		case <-done:
			putChunk(bp)
			return
		}
		if rerr != nil {
			return
		}
		off += uint64(m)
		remaining -= uint64(m)
	}
}

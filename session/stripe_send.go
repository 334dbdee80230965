package session

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"sync"

	"github.com/quic-go/quic-go"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// Range sizes of a striped file: about 1024 ranges per file, between 256
// KiB and 16 MiB each. Small ranges spread a file over many connections
// and keep the wait for the last ones short (at 1% loss and 50 ms one
// connection moves about 4 Mbit/s, so a 1 MiB range on a lane sharing it
// takes seconds); big ones keep the number of streams and acks down.
const (
	minRange = 256 << 10
	maxRange = 16 << 20
)

func rangeSize(size uint64) uint64 {
	return min(max(size/1024, minRange), maxRange)
}

// stripeSender sends a striped file: the ranges the receiver lacks, each
// on its own range stream on whichever connection of the pool has a free
// lane, and the whole-file hash in a Seal once the file has been read
// through and found unchanged. A range is done when the receiver acks
// it; ranges whose connection dies before their ack are sent again on
// another.
type stripeSender struct {
	id       uint64
	path     string
	file     *os.File
	meta     fileMeta
	lanes    *lanes
	progress func(n int)  // optional
	limit    *RateLimiter // optional
	seal     func([]byte) error
	// ended is closed when the command channel is gone; endErr says why.
	ended  <-chan struct{}
	endErr func() error
}

type rangeState struct {
	r        wire.Range
	m        *member // connection it was last sent on; nil when pending
	inFlight bool    // a goroutine is writing it
	acked    bool
	held     bool // counted in m's unacked ranges
	tries    int  // attempts that failed on a live connection
}

// maxRangeTries bounds the attempts at a range that fail on a connection
// that stays up.
const maxRangeTries = 8

type rangeResult struct {
	i   int
	m   *member
	err *Error
}

// run sends the ranges missing from have and the seal, and returns the
// receiver's verdict (a Done or Reject from msgs). onDelivered is called
// once every range has been acked. A local failure (the source changed or
// cannot be read) is returned as an error with a nil message.
func (sd *stripeSender) run(ctx context.Context, have []wire.Range, msgs <-chan wire.Message, onDelivered func()) (wire.Message, error) {
	held, _ := rangeSetOf(have, sd.meta.Size)
	states := []*rangeState{}
	byOffset := map[uint64]int{}
	for i, r := range split(held.missing(sd.meta.Size), rangeSize(sd.meta.Size)) {
		states = append(states, &rangeState{r: r})
		byOffset[r.Offset] = i
	}
	pending := make([]int, len(states))
	for i := range pending {
		pending[i] = i
	}
	unacked := len(states)

	wctx, wcancel := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	results := make(chan rangeResult, len(states))
	defer func() {
		// Stop the ranges still being written and give their lanes
		// back: the other transfers of the session need them.
		wcancel(&Error{Code: CodeUpToDate})
		wg.Wait()
		for {
			select {
			case res := <-results:
				sd.lanes.release(res.m)
			default:
				for _, st := range states {
					sd.unhold(st)
				}
				return
			}
		}
	}()
	hashed := make(chan hashResult, 1)
	wg.Go(func() { hashed <- sd.hashFile(wctx) })

	delivered := false
	for {
		for len(pending) > 0 {
			m := sd.lanes.tryAcquire()
			if m == nil {
				break
			}
			i := pending[0]
			pending = pending[1:]
			st := states[i]
			st.m, st.inFlight = m, true
			wg.Go(func() {
				_, err := sd.sendRange(wctx, m, st.r)
				results <- rangeResult{i: i, m: m, err: err}
			})
		}
		if unacked == 0 && !delivered {
			delivered = true
			if onDelivered != nil {
				onDelivered()
			}
		}
		changed := sd.lanes.wait()
		select {
		case msg := <-msgs:
			switch m := msg.(type) {
			case *wire.Ack:
				i, ok := byOffset[m.Offset]
				if ok && states[i].r.Length == m.Length && !states[i].acked {
					states[i].acked = true
					sd.unhold(states[i])
					unacked--
				}
			case *wire.Done, *wire.Reject:
				return msg, nil
			default:
				return nil, errorf(CodeProtocolViolation, sd.path, "unexpected %s", msg.Type())
			}
		case res := <-results:
			sd.lanes.release(res.m)
			st := states[res.i]
			st.inFlight = false
			switch {
			case st.acked:
			case res.err == nil:
				sd.lanes.hold(res.m)
				st.held = true
			case ctx.Err() != nil:
				return nil, withPath(causeError(ctx), sd.path)
			case res.m.dead():
				sd.requeue(st, &pending, res.i)
			case !res.err.Remote:
				st.tries++
				if res.err.Code != CodeIOError || st.tries >= maxRangeTries {
					return nil, res.err // our file: changed or unreadable
				}
				sd.requeue(st, &pending, res.i)
			default:
				// The receiver stopped the stream: a duplicate
				// (up_to_date) or a failure it reports with its Done.
			}
		case <-changed:
			for i, st := range states {
				if !st.acked && !st.inFlight && st.m != nil && st.m.dead() {
					sd.requeue(st, &pending, i)
				}
			}
		case h := <-hashed:
			if h.err != nil {
				return nil, h.err
			}
			if err := sd.seal(h.sum); err != nil {
				return nil, withPath(asError(err, sd.path), sd.path)
			}
		case <-ctx.Done():
			return nil, withPath(causeError(ctx), sd.path)
		case <-sd.ended:
			return nil, withPath(asError(sd.endErr(), sd.path), sd.path)
		}
	}
}

// requeue puts a range whose connection died back in the queue. Its
// bytes stay counted: progress counts bytes sent, and a range sent twice
// is sent twice (as a sequential file resent after a reconnect is).
func (sd *stripeSender) requeue(st *rangeState, pending *[]int, i int) {
	sd.unhold(st)
	st.m = nil
	*pending = append(*pending, i)
}

// unhold takes st out of its connection's unacked count.
func (sd *stripeSender) unhold(st *rangeState) {
	if st.held {
		st.held = false
		sd.lanes.unhold(st.m)
	}
}

type hashResult struct {
	sum []byte
	err error
}

// hashFile reads the whole file for its SHA-256 and checks it did not
// change meanwhile.
func (sd *stripeSender) hashFile(ctx context.Context) hashResult {
	h := sha256.New()
	buf := make([]byte, 1<<20)
	r := io.NewSectionReader(sd.file, 0, int64(sd.meta.Size))
	for {
		if ctx.Err() != nil {
			return hashResult{err: withPath(causeError(ctx), sd.path)}
		}
		n, err := r.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return hashResult{err: asError(err, sd.path)}
		}
	}
	fi, err := sd.file.Stat()
	if err != nil {
		return hashResult{err: asError(err, sd.path)}
	}
	if now := metaOf(fi); now.Size != sd.meta.Size || !now.MTime.Equal(sd.meta.MTime) {
		return hashResult{err: errorf(CodeSourceChanged, sd.path, "file changed while being sent")}
	}
	return hashResult{sum: h.Sum(nil)}
}

// sendRange writes one range on a new stream of m and returns how many
// bytes it wrote. The error's Remote flag says the receiver stopped the
// stream; connection failures are CodeIOError or the close code.
func (sd *stripeSender) sendRange(ctx context.Context, m *member, r wire.Range) (uint64, *Error) {
	ws, err := m.conn.OpenUniStreamSync(ctx)
	if err != nil {
		return 0, connError(ctx, err, sd.path)
	}
	stop := context.AfterFunc(ctx, func() { ws.CancelWrite(quic.StreamErrorCode(causeError(ctx).Code)) })
	defer stop()
	if _, err := ws.Write(wire.AppendRangeHeader(nil, sd.id, r.Offset, r.Length)); err != nil {
		return 0, connError(ctx, err, sd.path)
	}
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	buf := *bp
	var sent uint64
	for sent < r.Length {
		n := min(uint64(len(buf)), r.Length-sent)
		k, err := sd.file.ReadAt(buf[:n], int64(r.Offset+sent))
		if k > 0 {
			wn, werr := sd.limit.write(ctx, ws, buf[:k])
			sent += uint64(wn)
			if sd.progress != nil && wn > 0 {
				sd.progress(wn)
			}
			if werr != nil {
				return sent, connError(ctx, werr, sd.path)
			}
		}
		if err != nil && !(err == io.EOF && uint64(k) == n) {
			e := asError(err, sd.path)
			if err == io.EOF {
				e = errorf(CodeSourceChanged, sd.path, "file shrank while being sent")
			}
			ws.CancelWrite(quic.StreamErrorCode(e.Code))
			return sent, e
		}
	}
	if err := ws.Close(); err != nil {
		if cause := context.Cause(ws.Context()); cause != nil {
			err = cause
		}
		return sent, connError(ctx, err, sd.path)
	}
	return sent, nil
}

// connError classifies a failed stream write: a stop by the receiver is
// Remote with its code; anything else (the connection died, it was
// closed) is a local CodeIOError, unless the transfer itself was
// cancelled.
func connError(ctx context.Context, err error, p string) *Error {
	if ctx.Err() != nil {
		if e := causeError(ctx); e != nil {
			return withPath(e, p)
		}
	}
	var se *quic.StreamError
	if errors.As(err, &se) && se.Remote {
		return &Error{Code: ErrorCode(se.ErrorCode), Remote: true, Path: p}
	}
	return &Error{Code: CodeIOError, Path: p, Msg: err.Error()}
}

package session

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/quicvarint"

	"github.com/qxfer/qxfer/quicx"
	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// waiter collects the responses and the data streams of one request.
type waiter struct {
	msgs chan wire.Message
	gone chan struct{} // closed when the requester stops listening
	// align is the PartAlign of a push, set before its Accept is
	// delivered (client_align.go).
	align atomic.Pointer[wire.PartAlign]

	// mu guards the range streams of a pull: they may arrive before the
	// receiver is set up, and wait in early.
	mu    sync.Mutex
	rc    *xfer.Receiver
	early []earlyRange
}

type earlyRange struct {
	rs  *quic.ReceiveStream
	hdr wire.RangeHeader
}

// maxEarlyRanges bounds the range streams held for a pull whose
// receiver is not set up yet (the QUIC stream limit bounds them anyway).
const maxEarlyRanges = 256

// addRange hands a range stream to the pull's receiver, or holds it until
// there is one.
func (w *waiter) addRange(ctx context.Context, rs *quic.ReceiveStream, hdr wire.RangeHeader) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.rc != nil:
		w.rc.Receive(ctx, rs, hdr)
	case len(w.early) < maxEarlyRanges:
		w.early = append(w.early, earlyRange{rs, hdr})
	default:
		rs.CancelRead(quic.StreamErrorCode(CodeLimitExceeded))
	}
}

// setReceiver starts receiving range streams into rc, those that came
// early first.
func (w *waiter) setReceiver(ctx context.Context, rc *xfer.Receiver) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.rc = rc
	for _, e := range w.early {
		rc.Receive(ctx, e.rs, e.hdr)
	}
	w.early = nil
}

// dropEarly stops range streams that never found a receiver.
func (w *waiter) dropEarly() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range w.early {
		e.rs.CancelRead(quic.StreamErrorCode(CodeUnknownTransfer))
	}
	w.early = nil
}

// readLoop dispatches command-channel messages to their waiters.
func (c *clientConn) readLoop() {
	for {
		msg, err := c.cmd.recv()
		if err != nil {
			c.fail(sessionError(err))
			return
		}
		if c.noteAlign(msg) {
			continue
		}
		id, ok := responseID(msg)
		if !ok {
			if _, unknown := msg.(*wire.Unknown); unknown {
				continue
			}
			c.fail(fmt.Errorf("unexpected %s from server", msg.Type()))
			c.conn.Close(quic.ApplicationErrorCode(CodeProtocolViolation), "unexpected "+msg.Type().String())
			return
		}
		c.mu.Lock()
		w := c.waiters[id]
		c.mu.Unlock()
		if w == nil {
			continue // the requester gave up
		}
		select {
		case w.msgs <- msg:
		case <-w.gone:
		case <-c.closed:
			return
		}
	}
}

func responseID(msg wire.Message) (uint64, bool) {
	switch m := msg.(type) {
	case *wire.ListResult:
		return m.ID, true
	case *wire.StatResult:
		return m.ID, true
	case *wire.DfResult:
		return m.ID, true
	case *wire.Accept:
		return m.ID, true
	case *wire.FileInfo:
		return m.ID, true
	case *wire.Reject:
		return m.ID, true
	case *wire.Done:
		return m.ID, true
	case *wire.OK:
		return m.ID, true
	case *wire.LinkTarget:
		return m.ID, true
	case *wire.ChecksumResult:
		return m.ID, true
	case *wire.Seal:
		return m.ID, true
	case *wire.Ack:
		return m.ID, true
	case *wire.DeltaSig:
		return m.ID, true
	case *wire.DeltaPlan:
		return m.ID, true
	case *wire.FeaturesResult:
		return m.ID, true
	case *wire.ListPackedResult:
		return m.ID, true
	}
	return 0, false
}

// acceptStreams hands the server's range streams (pulls) on one
// connection of the session to their waiters.
func (c *clientConn) acceptStreams(qc *quicx.Conn) {
	ctx := qc.Context()
	for {
		rs, err := qc.AcceptUniStream(ctx)
		if err != nil {
			return
		}
		rs.SetReadDeadline(time.Now().Add(30 * time.Second))
		hdr, err := wire.ReadRangeHeader(quicvarint.NewReader(rs))
		if err != nil {
			rs.CancelRead(quic.StreamErrorCode(CodeProtocolViolation))
			continue
		}
		rs.SetReadDeadline(time.Time{})
		c.mu.Lock()
		w := c.waiters[hdr.ID]
		c.mu.Unlock()
		if w == nil {
			rs.CancelRead(quic.StreamErrorCode(CodeUnknownTransfer))
			continue
		}
		w.addRange(ctx, rs, hdr)
	}
}

// request allocates the next request id, registers a waiter for it and
// sends the message build makes. The server requires ids to increase in
// the order it receives them, so allocation and sending happen under one
// lock.
func (c *clientConn) request(build func(id uint64) wire.Message) (uint64, *waiter, error) {
	w := &waiter{msgs: make(chan wire.Message, 4), gone: make(chan struct{})}
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	id := c.nextID.Add(1)
	c.mu.Lock()
	if c.closeErr != nil {
		c.mu.Unlock()
		return 0, nil, c.closeErr
	}
	c.waiters[id] = w
	c.mu.Unlock()
	if err := c.cmd.send(build(id)); err != nil {
		c.done(id, w)
		return 0, nil, sessionError(err)
	}
	return id, w, nil
}

// send sends m on the command channel; a failure means the session is
// lost (it wraps ErrSessionLost), so a Session retries the transfer.
func (c *clientConn) send(m wire.Message) error {
	if err := c.cmd.send(m); err != nil {
		return sessionError(err)
	}
	return nil
}

// done unregisters a waiter.
func (c *clientConn) done(id uint64, w *waiter) {
	c.mu.Lock()
	if c.waiters[id] == w {
		delete(c.waiters, id)
	}
	c.mu.Unlock()
	close(w.gone)
	w.dropEarly()
}

// awaitAnswer waits for the answer to w's request about path p: a T, or
// a Reject, returned as the peer's verdict (xfer.IsVerdict). Anything
// else is a protocol violation. A failure to get an answer at all
// (cancel, a lost connection) is an *Error naming p.
func awaitAnswer[T wire.Message](ctx context.Context, c *clientConn, w *waiter, p string) (T, error) {
	msg, err := c.await(ctx, w)
	if err != nil {
		var zero T
		return zero, xfer.WithPath(xfer.AsError(err, p), p)
	}
	return answerAs[T](msg, p)
}

// roundTrip sends the request build makes and waits for its one answer, a T;
// a Reject is the peer's verdict about path p and anything else a
// protocol violation. A failure to get an answer is returned as it is
// (ctx's error, or the connection's).
func roundTrip[T wire.Message](ctx context.Context, c *clientConn, p string, build func(id uint64) wire.Message) (T, error) {
	var zero T
	id, w, err := c.request(build)
	if err != nil {
		return zero, err
	}
	defer c.done(id, w)
	msg, err := c.await(ctx, w)
	if err != nil {
		return zero, err
	}
	return answerAs[T](msg, p)
}

// answerAs returns msg, an answer about path p, as a T: a Reject is the
// peer's verdict, anything else CodeProtocolViolation.
func answerAs[T wire.Message](msg wire.Message, p string) (T, error) {
	var zero T
	switch m := msg.(type) {
	case T:
		return m, nil
	case *wire.Reject:
		return zero, rejected(m, p)
	}
	return zero, xfer.Errorf(CodeProtocolViolation, p, "unexpected %s", msg.Type())
}

// await returns the next response for w.
func (c *clientConn) await(ctx context.Context, w *waiter) (wire.Message, error) {
	select {
	case m := <-w.msgs:
		return m, nil
	case <-ctx.Done():
		return nil, xfer.CtxError(ctx)
	case <-c.closed:
		return nil, c.Err()
	}
}

func (c *clientConn) newJobID() uint64 { return c.table.newID() }

// lost reports whether the connection has gone away.
func (c *clientConn) lost() bool {
	select {
	case <-c.closed:
		return true
	case <-c.conn.Context().Done():
		return true
	default:
		return false
	}
}

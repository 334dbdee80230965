package session

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/quicvarint"
	"github.com/rs/zerolog"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// serverSession is the server side of one connection.
type serverSession struct {
	srv   *Server
	conn  *quic.Conn
	owner string // the client's certificate fingerprint
	id    uint64 // unique per server
	log   zerolog.Logger
	cmd   *cmdChannel
	wg    sync.WaitGroup  // data stream and listing goroutines
	ctx   context.Context // the session's: ends with the primary connection
	lanes *lanes          // the session's connections, for striped pulls
	token string

	// mu guards the following fields.
	mu      sync.Mutex
	maxID   uint64                 // highest request id seen
	settled uint64                 // highest request id fully handled
	changed chan struct{}          // closed and replaced when settled or active change
	active  map[uint64]*serverXfer // live transfers of this session by id
	pulls   map[string]uint64      // path -> id of live pulls of this session
	members map[string]*quic.Conn  // pool connections by the token of their Welcome
	dirs    map[string]bool        // directories put has created or found (command loop only)
	listing chan struct{}          // semaphore for concurrent listings
}

// serverXfer is a transfer of this session with what the server knows of
// it.
type serverXfer struct {
	t      *Transfer
	ctx    context.Context
	meta   fileMeta
	offset uint64        // resume offset offered in the Accept
	rec    *resumeRecord // the record that offset comes from
	// noRecord: no resume record file existed when the push was offered.
	noRecord bool
	taken    bool // a data stream has claimed this push

	stripe *stripeReceiver   // a striped push
	msgs   chan wire.Message // acks and the verdict of a striped pull
}

func newServerSession(srv *Server, conn *quic.Conn, owner string, log zerolog.Logger) *serverSession {
	return &serverSession{
		srv: srv, conn: conn, owner: owner, log: log, lanes: newLanes(),
		changed: make(chan struct{}),
		active:  make(map[uint64]*serverXfer),
		pulls:   make(map[string]uint64),
		members: make(map[string]*quic.Conn),
		dirs:    make(map[string]bool),
		listing: make(chan struct{}, 4),
	}
}

// wait blocks until every goroutine of the session has returned and the
// session's transfers are out of the server table. The connection must be
// closed first.
func (ss *serverSession) wait() {
	ss.wg.Wait()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for id, x := range ss.active {
		ss.endLocked(id, x, Cancelled, &Error{Code: CodeIOError, Msg: "session ended"})
	}
}

// run performs the hello exchange and then serves requests until the
// command channel ends.
func (ss *serverSession) run(ctx context.Context) error {
	cfg := ss.srv.cfg
	hctx, cancel := context.WithTimeout(ctx, cfg.HelloTimeout)
	str, err := ss.conn.AcceptStream(hctx)
	cancel()
	if err != nil {
		return protocolErrorf(CodeProtocolViolation, "no command stream: %v", err)
	}
	ss.cmd = newCmdChannel(str)
	str.SetReadDeadline(time.Now().Add(cfg.HelloTimeout))
	msg, err := ss.cmd.recv()
	if err != nil {
		return readError(err, "hello")
	}
	if join, ok := msg.(*wire.Join); ok {
		return ss.joinPool(ctx, join, str)
	}
	hello, ok := msg.(*wire.Hello)
	if !ok {
		return protocolErrorf(CodeProtocolViolation, "expected hello, got %s", msg.Type())
	}
	if hello.Version != wire.Version {
		ss.cmd.send(&wire.Reject{Code: CodeVersionMismatch, Msg: fmt.Sprintf("server speaks qxfer/%d, client qxfer/%d", wire.Version, hello.Version)})
		lingerAfterReject(str)
		return protocolErrorf(CodeVersionMismatch, "client speaks version %d", hello.Version)
	}
	str.SetReadDeadline(time.Time{})
	token := make([]byte, 16)
	rand.Read(token)
	ss.ctx = ctx
	ss.lanes.add(&member{conn: ss.conn, primary: true})
	ss.srv.registerPool(string(token), ss)
	defer ss.srv.unregisterPool(string(token))
	if err := ss.cmd.send(&wire.Welcome{Version: wire.Version, MaxTransfers: uint64(cfg.MaxTransfers), Token: token, Software: cfg.Software}); err != nil {
		return err
	}
	ss.log.Debug().Str("software", hello.Software).Msg("hello")
	ss.wg.Go(func() { ss.acceptDataStreams(ctx, ss.conn, &ss.wg) })
	return ss.commandLoop(ctx)
}

// rejectLinger bounds how long a refused client gets to read the Reject
// before the connection is closed.
const rejectLinger = 500 * time.Millisecond

// lingerAfterReject waits, after a Reject, until the client closes the
// connection or its side of the command stream, or rejectLinger passes.
// Closing the connection at once would lose the Reject: quic-go sends
// CONNECTION_CLOSE without flushing the stream data still queued.
func lingerAfterReject(str *quic.Stream) {
	str.SetReadDeadline(time.Now().Add(rejectLinger))
	io.Copy(io.Discard, str)
}

// readError classifies a failed command-channel read: a malformed frame is
// a protocol violation; the connection going away is not.
func readError(err error, what string) error {
	switch {
	case errors.Is(err, wire.ErrFrameTooLarge):
		return protocolErrorf(CodeFrameTooLarge, "%s: %v", what, err)
	case errors.Is(err, io.EOF):
		return nil
	}
	var se *quic.StreamError
	var ae *quic.ApplicationError
	var ie *quic.IdleTimeoutError
	if errors.As(err, &se) || errors.As(err, &ae) || errors.As(err, &ie) || errors.Is(err, context.Canceled) {
		return err
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		return protocolErrorf(CodeProtocolViolation, "%s: timed out", what)
	}
	return protocolErrorf(CodeProtocolViolation, "%s: %v", what, err)
}

func (ss *serverSession) commandLoop(ctx context.Context) error {
	for {
		msg, err := ss.cmd.recv()
		if err != nil {
			return readError(err, "command")
		}
		if err := ss.handle(ctx, msg); err != nil {
			return err
		}
	}
}

// nextID checks that request ids increase strictly, which lets a data
// stream tell "its Put is still on the way" from "no such Put".
func (ss *serverSession) nextID(id uint64) error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if id <= ss.maxID {
		return protocolErrorf(CodeProtocolViolation, "request id %d not above %d", id, ss.maxID)
	}
	ss.maxID = id
	return nil
}

// settle records that request id has been handled: its transfer, if any,
// is registered. Every request kind settles its id, so that a data stream
// naming the id of a List, Stat, Mkdir or Get is refused at once rather
// than after StreamWait.
func (ss *serverSession) settle(id uint64) {
	ss.mu.Lock()
	ss.settled = id
	ss.signalLocked()
	ss.mu.Unlock()
}

func (ss *serverSession) signalLocked() {
	close(ss.changed)
	ss.changed = make(chan struct{})
}

func (ss *serverSession) handle(ctx context.Context, msg wire.Message) error {
	switch m := msg.(type) {
	case *wire.Unknown:
		ss.log.Debug().Stringer("type", m.Type()).Msg("skipping unknown frame")
		return nil
	case *wire.List:
		if err := ss.nextID(m.ID); err != nil {
			return err
		}
		select {
		case ss.listing <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		ss.wg.Go(func() {
			defer func() { <-ss.listing }()
			ss.reply(m.ID, ss.list(m))
		})
		ss.settle(m.ID)
	case *wire.Stat:
		if err := ss.nextID(m.ID); err != nil {
			return err
		}
		ss.reply(m.ID, ss.stat(m))
		ss.settle(m.ID)
	case *wire.Mkdir:
		if err := ss.nextID(m.ID); err != nil {
			return err
		}
		ss.reply(m.ID, ss.mkdir(m))
		ss.settle(m.ID)
	case *wire.Put:
		if err := ss.nextID(m.ID); err != nil {
			return err
		}
		ss.reply(m.ID, ss.put(ctx, m))
		ss.settle(m.ID)
	case *wire.Get:
		if err := ss.nextID(m.ID); err != nil {
			return err
		}
		ss.reply(m.ID, ss.get(ctx, m))
		ss.settle(m.ID)
	case *wire.StripeGet:
		if err := ss.nextID(m.ID); err != nil {
			return err
		}
		ss.reply(m.ID, ss.stripeGet(ctx, m))
		ss.settle(m.ID)
	case *wire.Seal:
		ss.seal(m)
	case *wire.Drop:
		ss.drop(m)
	case *wire.Ack:
		ss.forward(m.ID, m)
	case *wire.Cancel:
		ss.cancel(m)
	case *wire.Done:
		ss.forward(m.ID, m)
		ss.pullDone(m)
	default:
		return protocolErrorf(CodeProtocolViolation, "unexpected %s from client", msg.Type())
	}
	return nil
}

// reply sends a Reject for a failed request; successful handlers have sent
// their own answer.
func (ss *serverSession) reply(id uint64, err error) {
	if err == nil {
		return
	}
	e := asError(err, "")
	ss.log.Debug().Uint64("id", id).Str("path", e.Path).Stringer("code", e.Code).Str("msg", e.Msg).Msg("request refused")
	ss.cmd.send(&wire.Reject{ID: id, Code: e.Code, Msg: rejectText(e)})
}

// rejectText is the message of a Reject or Done: the detail, bounded. The
// path is not repeated: the peer knows which request it answers.
func rejectText(e *Error) string {
	s := e.Msg
	if len(s) > wire.MaxMessageLen {
		s = s[:wire.MaxMessageLen]
	}
	return s
}

func (ss *serverSession) stat(m *wire.Stat) error {
	p, err := cleanPath(m.Path)
	if err != nil {
		return err
	}
	fi, err := ss.srv.root.Stat(p)
	if err != nil {
		return asError(err, p)
	}
	return ss.cmd.send(&wire.StatResult{ID: m.ID, Entry: entryOf(baseName(p), fi)})
}

func (ss *serverSession) mkdir(m *wire.Mkdir) error {
	if ss.srv.cfg.ReadOnly {
		return errorf(CodeReadOnly, m.Path, "server is read-only")
	}
	p, err := cleanPath(m.Path)
	if err != nil {
		return err
	}
	if p != "." {
		if err := mkdirAll(ss.srv.root, p, fs.FileMode(m.Mode).Perm()|0o700); err != nil {
			return err
		}
	}
	return ss.cmd.send(&wire.OK{ID: m.ID})
}

// put handles a push offer: take the destination in the transfer table,
// check it, and answer Accept with the durable offset of a matching .part
// (and the hash of that prefix, for the client to check). The data stream
// may already be waiting for it.
func (ss *serverSession) put(ctx context.Context, m *wire.Put) error {
	if ss.srv.cfg.ReadOnly {
		return errorf(CodeReadOnly, m.Path, "server is read-only")
	}
	p, err := cleanPath(m.Path)
	if err != nil {
		return err
	}
	meta := fileMeta{Size: m.Size, Mode: fs.FileMode(m.Mode).Perm(), MTime: m.MTime}
	force := m.Flags&wire.FlagForce != 0
	ss.mu.Lock()
	n := len(ss.active)
	ss.mu.Unlock()
	if n >= ss.srv.cfg.MaxTransfers {
		return errorf(CodeLimitExceeded, p, "more than %d transfers at once", ss.srv.cfg.MaxTransfers)
	}
	tctx, cancel := context.WithCancelCause(ctx)
	t := newTransfer(m.ID, Push, p, "", int64(m.Size), cancel)
	t.owner, t.sess = ss.owner, ss.id
	// The table entry comes first: it is what guarantees a single writer
	// per .part, and the resume record must be read under it.
	if err := ss.srv.acquire(ctx, t, p); err != nil {
		cancel(nil)
		return err
	}
	dec, err := checkDest(ss.srv.root, p, meta, force, ss.dirs)
	if err == nil && dec == destUpToDate {
		err = &Error{Code: CodeUpToDate}
	}
	if err != nil {
		ss.srv.table.remove(t, p)
		cancel(nil)
		if errors.Is(err, &Error{Code: CodeUpToDate}) {
			return ss.cmd.send(&wire.Accept{ID: m.ID, Flags: wire.AcceptUpToDate})
		}
		return err
	}
	if m.Flags&wire.FlagStriped != 0 {
		return ss.putStriped(m, t, tctx, cancel, meta)
	}
	offset, prefix, rec, absent := resumeOffer(ss.srv.root, p, meta, m.Flags&wire.FlagNoResume != 0)
	x := &serverXfer{t: t, ctx: tctx, meta: meta, offset: offset, rec: rec, noRecord: absent}
	t.mu.Lock()
	t.stop = func(e *Error) { ss.abort(m.ID, x, e) }
	t.mu.Unlock()
	ss.mu.Lock()
	ss.active[m.ID] = x
	ss.signalLocked()
	ss.mu.Unlock()
	if offset > 0 {
		ss.log.Info().Str("path", p).Uint64("offset", offset).Msg("offering resume")
	}
	return ss.cmd.send(&wire.Accept{ID: m.ID, Offset: offset, PrefixHash: prefix})
}

// abort ends a push of this session from outside (a takeover by a newer
// connection of the same client): one still waiting for its stream ends
// at once; a running one is stopped through its context and flushes its
// resume record before it ends.
func (ss *serverSession) abort(id uint64, x *serverXfer, e *Error) {
	ss.mu.Lock()
	if ss.active[id] == x && !x.taken {
		ss.endLocked(id, x, Cancelled, e)
		ss.mu.Unlock()
		ss.cmd.send(&wire.Done{ID: id, Code: e.Code, Msg: e.Msg})
		return
	}
	ss.mu.Unlock()
	x.t.cancelWith(e)
}

// endLocked removes a transfer from the session and the server table and
// records its final state.
func (ss *serverSession) endLocked(id uint64, x *serverXfer, s State, err error) {
	if ss.active[id] != x {
		return
	}
	delete(ss.active, id)
	if x.t.Dir == Push {
		ss.srv.table.remove(x.t, x.t.Path)
	} else {
		delete(ss.pulls, x.t.Path)
	}
	x.t.finish(s, err)
}

// cancel handles a Cancel from the client for a transfer that may not have
// a stream yet; a running one is stopped through its context.
func (ss *serverSession) cancel(m *wire.Cancel) {
	e := &Error{Code: m.Code, Remote: true, Msg: "cancelled by client"}
	ss.mu.Lock()
	x, ok := ss.active[m.ID]
	if ok && x.t.Dir == Push && !x.taken {
		ss.endLocked(m.ID, x, Cancelled, e)
		ss.mu.Unlock()
		ss.cmd.send(&wire.Done{ID: m.ID, Code: CodeCancelled, Msg: "cancelled before any data"})
		return
	}
	ss.mu.Unlock()
	if ok {
		x.t.cancelWith(e)
	}
}

// stateFor maps a transfer's final error to its state.
func stateFor(err error) State {
	switch {
	case err == nil:
		return Done
	case errors.Is(err, &Error{Code: CodeUpToDate}):
		return Skipped
	case errors.Is(err, ErrCancelled), errors.Is(err, ErrInterrupted):
		return Cancelled
	}
	return Failed
}

// acceptDataStreams serves the client's per-file and range streams on one
// connection of the session until it ends; the goroutines are owned by
// wg. quic-go's MaxIncomingUniStreams bounds how many run.
func (ss *serverSession) acceptDataStreams(ctx context.Context, conn *quic.Conn, wg *sync.WaitGroup) {
	for {
		rs, err := conn.AcceptUniStream(ctx)
		if err != nil {
			return
		}
		wg.Go(func() { ss.receiveStream(ctx, rs) })
	}
}

// receiveStream reads a stream's header and hands it to its transfer.
func (ss *serverSession) receiveStream(ctx context.Context, rs *quic.ReceiveStream) {
	rs.SetReadDeadline(time.Now().Add(ss.srv.cfg.StreamWait))
	hdr, err := wire.ReadAnyHeader(quicvarint.NewReader(rs))
	if err != nil {
		rs.CancelRead(quic.StreamErrorCode(CodeProtocolViolation))
		return
	}
	if hdr.Type == wire.RangeStream {
		x, code := ss.claim(ctx, hdr.ID, true)
		if x == nil {
			rs.CancelRead(quic.StreamErrorCode(code))
			return
		}
		rs.SetReadDeadline(time.Time{})
		x.stripe.run(x.ctx, rs, hdr)
		return
	}
	ss.receivePush(ctx, rs, wire.StreamHeader{ID: hdr.ID, Offset: hdr.Offset})
}

// receivePush reads one pushed file.
func (ss *serverSession) receivePush(ctx context.Context, rs *quic.ReceiveStream, hdr wire.StreamHeader) {
	x, code := ss.claim(ctx, hdr.ID, false)
	if x == nil {
		rs.CancelRead(quic.StreamErrorCode(code))
		return
	}
	rs.SetReadDeadline(time.Time{})
	x.t.setRunning()
	var rerr error
	if hdr.Offset != 0 && hdr.Offset != x.offset {
		rerr = errorf(CodeProtocolViolation, x.t.Path, "offset %d was not offered", hdr.Offset)
	} else {
		stop := context.AfterFunc(x.ctx, func() { rs.CancelRead(quic.StreamErrorCode(causeError(x.ctx).Code)) })
		rc := &receiver{root: ss.srv.root, path: x.t.Path, meta: x.meta, offset: hdr.Offset, rec: x.rec, noRecord: x.noRecord, progress: x.t.addBytes}
		rerr = rc.receive(x.ctx, rs)
		stop()
	}
	done := &wire.Done{ID: hdr.ID}
	if rerr != nil {
		e := asError(rerr, x.t.Path)
		rs.CancelRead(quic.StreamErrorCode(e.Code))
		done.Code, done.Msg = e.Code, rejectText(e)
		ss.log.Info().Uint64("id", hdr.ID).Str("path", x.t.Path).Stringer("code", e.Code).Str("msg", e.Msg).Msg("push failed")
	} else {
		ss.log.Info().Uint64("id", hdr.ID).Str("path", x.t.Path).Uint64("size", x.meta.Size).Msg("received")
	}
	ss.mu.Lock()
	ss.endLocked(hdr.ID, x, stateFor(rerr), rerr)
	ss.mu.Unlock()
	ss.cmd.send(done)
}

// claim waits until the Put for id has been handled and returns its
// transfer. Ids increase strictly and requests are handled in order, so
// once a request id at least as high is settled, a missing transfer is
// never coming.
func (ss *serverSession) claim(ctx context.Context, id uint64, striped bool) (*serverXfer, ErrorCode) {
	timer := time.NewTimer(ss.srv.cfg.StreamWait)
	defer timer.Stop()
	for {
		ss.mu.Lock()
		x, ok := ss.active[id]
		if ok && striped && x.stripe != nil {
			ss.mu.Unlock()
			return x, CodeOK
		}
		if ok && !striped && x.t.Dir == Push && !x.taken && x.stripe == nil {
			x.taken = true
			ss.mu.Unlock()
			return x, CodeOK
		}
		if ok || id <= ss.settled {
			ss.mu.Unlock()
			return nil, CodeUnknownTransfer
		}
		ch := ss.changed
		ss.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, CodeShutdown
		case <-timer.C:
			return nil, CodeUnknownTransfer
		}
	}
}

package session

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/rs/zerolog"

	"github.com/qxfer/qxfer/certs"
	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// serverSession is the server side of one connection.
type serverSession struct {
	srv   *Server
	conn  *quic.Conn
	owner string // the client's certificate fingerprint
	acc   certs.ClientAccess
	root  *os.Root // the client's world: the server root or its root= directory; every path is under it
	id    uint64   // unique per server
	log   zerolog.Logger
	cmd   *cmdChannel
	wg    sync.WaitGroup // data stream and listing goroutines
	lanes *xfer.Lanes    // the session's connections, for pulls
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
	t    *Transfer
	done <-chan struct{} // closed when the transfer's context ends
	meta xfer.FileMeta
	recv *xfer.Receiver    // a push: its range streams go there
	msgs chan wire.Message // a pull: the client's Acks and verdict
}

func newServerSession(srv *Server, conn *quic.Conn, owner string, log zerolog.Logger) *serverSession {
	return &serverSession{
		srv: srv, conn: conn, owner: owner, log: log, lanes: xfer.NewLanes(),
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
	ss.lanes.Add(&xfer.Member{Conn: ss.conn, Primary: true})
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
		return ss.request(m.ID, func() error {
			select {
			case ss.listing <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			ss.wg.Go(func() {
				defer func() { <-ss.listing }()
				ss.reply(m.ID, ss.list(m))
			})
			return nil
		})
	case *wire.Stat:
		return ss.request(m.ID, func() error { ss.reply(m.ID, ss.stat(m)); return nil })
	case *wire.Mkdir:
		return ss.request(m.ID, func() error { ss.reply(m.ID, ss.mkdir(m)); return nil })
	case *wire.Put:
		return ss.request(m.ID, func() error { ss.reply(m.ID, ss.put(ctx, m)); return nil })
	case *wire.Get:
		return ss.request(m.ID, func() error { ss.reply(m.ID, ss.get(ctx, m)); return nil })
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

// request runs the handler of a request with id: ids must increase
// strictly, and the id is settled once handle has run (its transfer, if
// any, is registered). An error from handle ends the session.
func (ss *serverSession) request(id uint64, handle func() error) error {
	if err := ss.nextID(id); err != nil {
		return err
	}
	if err := handle(); err != nil {
		return err
	}
	ss.settle(id)
	return nil
}

// reply sends a Reject for a failed request; successful handlers have sent
// their own answer.
func (ss *serverSession) reply(id uint64, err error) {
	if err == nil {
		return
	}
	e := xfer.AsError(err, "")
	ss.log.Debug().Uint64("id", id).Str("path", e.Path).Stringer("code", e.Code).Str("msg", e.Msg).Msg("request refused")
	ss.cmd.send(&wire.Reject{ID: id, Code: e.Code, Msg: rejectText(e)})
}

// endLocked removes a transfer from the session and the server table and
// records its final state.
func (ss *serverSession) endLocked(id uint64, x *serverXfer, s State, err error) {
	if ss.active[id] != x {
		return
	}
	delete(ss.active, id)
	if x.t.Dir == Push {
		ss.srv.table.remove(x.t, ss.serverPath(x.t.Path))
	} else {
		delete(ss.pulls, x.t.Path)
	}
	x.t.finish(s, err)
}

// acceptDataStreams serves the client's range streams on one connection
// of the session until it ends; the goroutines are owned by wg. quic-go's
// MaxIncomingUniStreams bounds how many run.
func (ss *serverSession) acceptDataStreams(ctx context.Context, conn *quic.Conn, wg *sync.WaitGroup) {
	for {
		rs, err := conn.AcceptUniStream(ctx)
		if err != nil {
			return
		}
		wg.Go(func() { ss.receiveStream(ctx, rs) })
	}
}

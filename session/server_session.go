package session

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/rs/zerolog"

	"github.com/qxfer/qxfer/certs"
	"github.com/qxfer/qxfer/session/internal/store"
	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// serverSession is the server side of one connection.
type serverSession struct {
	srv   *Server
	conn  *quic.Conn
	owner string // the client's certificate fingerprint
	acc   certs.ClientAccess
	root  *os.Root    // the client's world: the server root or its root= directory; every path is under it (nil on an S3 root)
	store store.Store // the same world as a Store: POSIX on root, or the S3 bucket
	label string      // the client's label in logs, metrics and the access log (enter)
	id    uint64      // unique per server
	log   zerolog.Logger
	cmd   *cmdChannel
	wg    sync.WaitGroup // data stream and listing goroutines
	lanes *xfer.Lanes    // the session's connections, for pulls
	token string
	dirs  xfer.KnownDirs // directories pushes have created or found, held open; closed by wait

	// mu guards the following fields.
	mu          sync.Mutex
	maxID       uint64                 // highest request id seen
	lastRequest time.Time              // when it came, or when the last transfer ended if later
	settled     uint64                 // highest request id fully handled
	changed     chan struct{}          // closed and replaced when settled or active change
	active      map[uint64]*serverXfer // live transfers of this session by id
	members     map[string]*quic.Conn  // pool connections by the token of their Welcome
	listing     chan struct{}          // semaphore for concurrent listings
	unsent      int                    // transfers ended whose verdict endAndSend has still to send
}

// serverXfer is a transfer of this session with what the server knows of
// it.
type serverXfer struct {
	t    *Transfer
	done <-chan struct{} // closed when the transfer's context ends
	meta xfer.FileMeta
	recv store.Writer      // a push: its range streams go there; nil while opening
	seal []byte            // a push: a Seal that came while its receiver was opening
	msgs chan wire.Message // a pull: the client's Acks and verdict
	// plans carries a delta push's DeltaPlan frames (server_delta.go);
	// nil unless the push is a delta. Guarded by ss.mu.
	plans chan *wire.DeltaPlan
	// resumed is how many bytes the receiver held before the transfer
	// (the ranges of its offer), for the access log.
	resumed uint64
}

func newServerSession(srv *Server, conn *quic.Conn, owner string, log zerolog.Logger) *serverSession {
	return &serverSession{
		srv: srv, conn: conn, owner: owner, label: srv.clientLabel(owner), log: log, lanes: xfer.NewLanes(),
		changed: make(chan struct{}),
		dirs:    xfer.KnownDirs{Gen: &srv.dirGen},
		active:  make(map[uint64]*serverXfer),
		members: make(map[string]*quic.Conn),
		listing: make(chan struct{}, 4),
	}
}

// wait blocks until every goroutine of the session has returned and the
// session's transfers are out of the server table. The connection must be
// closed first.
func (ss *serverSession) wait() {
	ss.wg.Wait()
	ss.dirs.Close()
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
		ss.srv.CountHandshakeFailure(failHello)
		return protocolErrorf(CodeProtocolViolation, "no command stream: %v", err)
	}
	ss.cmd = newCmdChannel(str)
	str.SetReadDeadline(time.Now().Add(cfg.HelloTimeout))
	msg, err := ss.cmd.recv()
	if err != nil {
		ss.srv.CountHandshakeFailure(failHello)
		return readError(err, "hello")
	}
	if join, ok := msg.(*wire.Join); ok {
		return ss.joinPool(ctx, join, str)
	}
	hello, ok := msg.(*wire.Hello)
	if !ok {
		ss.srv.CountHandshakeFailure(failHello)
		return protocolErrorf(CodeProtocolViolation, "expected hello, got %s", msg.Type())
	}
	if hello.Version != wire.Version {
		ss.srv.CountHandshakeFailure(failVersion)
		ss.cmd.send(&wire.Reject{Code: CodeVersionMismatch, Msg: fmt.Sprintf("server speaks qxfer/%d, client qxfer/%d", wire.Version, hello.Version)})
		lingerAfterReject(str)
		return protocolErrorf(CodeVersionMismatch, "client speaks version %d", hello.Version)
	}
	str.SetReadDeadline(time.Time{})
	token := ss.srv.newToken()
	ss.lanes.Add(&xfer.Member{Conn: ss.conn, Primary: true})
	ss.srv.registerPool(string(token), ss)
	defer ss.srv.unregisterPool(string(token))
	if err := ss.cmd.send(&wire.Welcome{Version: wire.Version, MaxTransfers: uint64(cfg.MaxTransfers), Token: token, Software: cfg.Software, JoinAddr: cfg.Advertise}); err != nil {
		return err
	}
	ss.log.Debug().Str("software", hello.Software).Msg("hello")
	m := ss.srv.metrics
	m.sessions.WithLabelValues(ss.label).Inc()
	m.sessionsOpen.Inc()
	defer m.sessionsOpen.Dec()
	ss.wg.Go(func() { ss.acceptDataStreams(ctx, ss.conn, &ss.wg) })
	ss.wg.Go(func() { ss.closeWhenDrained(ctx) })
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
	ss.lastRequest = time.Now()
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
	ss.srv.metrics.request(msg)
	if id, h := ss.storeHandles(msg); h != nil {
		return ss.request(id, func() error { ss.reply(id, h()); return nil })
	}
	switch m := msg.(type) {
	case *wire.Features, *wire.ListPacked:
		if ss.srv.predatesFeatures.Load() {
			ss.log.Debug().Stringer("type", m.Type()).Msg("skipping unknown frame")
			return nil
		}
	}
	switch m := msg.(type) {
	case *wire.Unknown:
		ss.log.Debug().Stringer("type", m.Type()).Msg("skipping unknown frame")
		return nil
	case *wire.List:
		return ss.listAsync(ctx, m.ID, m.Path, false)
	case *wire.ListPacked:
		return ss.listAsync(ctx, m.ID, m.Path, true)
	case *wire.Features:
		return ss.request(m.ID, func() error {
			return ss.cmd.send(&wire.FeaturesResult{ID: m.ID, Bits: m.Bits & serverFeatures})
		})
	case *wire.Stat:
		return ss.request(m.ID, func() error { ss.reply(m.ID, ss.stat(ctx, m)); return nil })
	case *wire.Mkdir:
		return ss.request(m.ID, func() error { ss.reply(m.ID, ss.mkdir(ctx, m)); return nil })
	case *wire.DirMeta:
		return ss.request(m.ID, func() error { ss.reply(m.ID, ss.dirMeta(m)); return nil })
	case *wire.Symlink:
		return ss.request(m.ID, func() error { ss.reply(m.ID, ss.symlink(m)); return nil })
	case *wire.Readlink:
		return ss.request(m.ID, func() error { ss.reply(m.ID, ss.readlink(m)); return nil })
	case *wire.Remove:
		return ss.request(m.ID, func() error { ss.reply(m.ID, ss.remove(m)); return nil })
	case *wire.Rename:
		return ss.request(m.ID, func() error { ss.reply(m.ID, ss.rename(m)); return nil })
	case *wire.Df:
		return ss.request(m.ID, func() error { ss.reply(m.ID, ss.df(m)); return nil })
	case *wire.Checksum:
		return ss.request(m.ID, func() error { ss.reply(m.ID, ss.checksum(ctx, m)); return nil })
	case *wire.Put, *wire.Get:
		if ss.srv.draining() {
			// Left unanswered: the client runs it again on its next
			// connection (Server.Shutdown).
			ss.log.Debug().Stringer("type", msg.Type()).Msg("draining: new transfer left unanswered")
			return nil
		}
	}
	switch m := msg.(type) {
	case *wire.Put:
		return ss.request(m.ID, func() error { ss.reply(m.ID, ss.put(ctx, m)); return nil })
	case *wire.Get:
		return ss.request(m.ID, func() error { ss.reply(m.ID, ss.get(ctx, m)); return nil })
	case *wire.Seal:
		ss.seal(m)
	case *wire.DeltaPlan:
		ss.deltaPlan(m)
	case *wire.DeltaSig:
		ss.forward(m.ID, m)
	case *wire.DeltaHave:
		ss.forward(m.ID, m)
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
	ss.srv.metrics.refused.WithLabelValues(e.Code.String(), ss.label).Inc()
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
	ss.lastRequest = time.Now() // a batch's next requests follow its Dones
	if x.t.Dir == Push {
		ss.srv.table.remove(x.t, ss.tableKey(x.t.Path))
	}
	if x.t.finish(s, err) {
		ss.transferEnded(x.t, x.resumed, err)
	}
	ss.signalLocked() // for closeWhenDrained
}

// endAndSend ends a transfer, then sends its final message (nil: none).
// The transfer leaves the session and the server table before the
// message goes out, so a retry it prompts is not refused as a transfer
// still running; ss.unsent covers the gap, so that a drained session
// (closeWhenDrained) does not end its command stream before the message.
func (ss *serverSession) endAndSend(id uint64, x *serverXfer, s State, err error, final wire.Message) {
	ss.mu.Lock()
	ss.endLocked(id, x, s, err)
	ss.unsent++
	ss.mu.Unlock()
	if final != nil {
		ss.cmd.send(final)
	}
	ss.mu.Lock()
	ss.unsent--
	ss.signalLocked()
	ss.mu.Unlock()
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

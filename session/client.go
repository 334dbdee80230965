package session

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/quicvarint"
	"github.com/rs/zerolog"

	"github.com/qxfer/qxfer/certs"
	"github.com/qxfer/qxfer/quicx"
	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// ALPN is the TLS application protocol of qxfer protocol v1.
const ALPN = "qxfer/2"

// ClientConfig configures Dial. Identity and one way to trust the server
// (KnownHosts or Fingerprint) are required.
type ClientConfig struct {
	// Identity is this installation's key and certificate.
	Identity *certs.Identity
	// KnownHosts pins server fingerprints, trusting a new server on first
	// use. May be nil when Fingerprint is set.
	KnownHosts *certs.KnownHosts
	// Fingerprint, if set, is the only server fingerprint accepted.
	Fingerprint certs.Fingerprint
	// HostKey is the name the server is pinned under in known_hosts.
	// Default: the dial address.
	HostKey string
	// OnNewHost is called after the fingerprint of a server seen for the
	// first time has been saved. Optional.
	OnNewHost func(host string, fp certs.Fingerprint)
	// Quic tunes the transport; the zero value is fine.
	Quic quicx.Config
	// Software is sent in the hello. Default "qxfer".
	Software string
	// Table is where the client registers its transfers. Sessions that
	// reconnect pass the same table to every client. Default: a new one.
	Table *Table
	// WatchRoute is how often the client checks which local address routes
	// to the server, migrating the connection when it changes. Default 2s;
	// negative disables the watch.
	WatchRoute time.Duration
	// OnEvent, if set, receives connection events (migrations).
	OnEvent func(Event)
	// RouteSource says which local address routes to the server; the
	// route watcher migrates when it changes. Default quicx.RouteSource
	// (the operating system's routing table); tests replace it.
	RouteSource func(net.Addr) (net.IP, error)
	// Pool stripes the session's file bytes over several connections
	// (see PoolConfig). The zero value uses the one connection.
	Pool PoolConfig
	// Logger receives the client's logs. The zero value discards them.
	Logger zerolog.Logger
}

// UnauthorizedError is returned by Dial when the server refused this
// client's certificate during the handshake.
type UnauthorizedError struct {
	Fingerprint certs.Fingerprint // ours, to be added on the server
}

func (e *UnauthorizedError) Error() string {
	return "server refused this client (fingerprint " + e.Fingerprint.String() + ")"
}

// Hint says how to get authorized.
func (e *UnauthorizedError) Hint() []string {
	return []string{
		"ask the server's owner to add this line to $QXFER_HOME/" + certs.AuthorizedClientsFile + " on the server:",
		"  " + e.Fingerprint.String(),
	}
}

// Client is one session with a server: one QUIC connection, one command
// stream, a fresh stream per file. Its methods are safe for concurrent use.
type Client struct {
	conn    *quicx.Conn
	cmd     *cmdChannel
	log     zerolog.Logger
	welcome *wire.Welcome
	table   *Table
	nextID  atomic.Uint64 // wire request ids; only request allocates them
	sendMu  sync.Mutex    // makes id allocation and sending one step, so ids reach the server in order
	closed  chan struct{} // closed when the command channel fails or Close is called
	wg      sync.WaitGroup
	lanes   *xfer.Lanes // the connections that carry range streams
	pool    *pool       // nil unless ClientConfig.Pool stripes

	// mu guards the following fields.
	mu       sync.Mutex
	waiters  map[uint64]*waiter
	closeErr error
}

// waiter collects the responses and the data streams of one request.
type waiter struct {
	msgs chan wire.Message
	gone chan struct{} // closed when the requester stops listening

	// mu guards the range streams of a pull: they may arrive before the
	// receiver is set up, and wait in early.
	mu    sync.Mutex
	rc    *xfer.Receiver
	rcCtx context.Context
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
func (w *waiter) addRange(rs *quic.ReceiveStream, hdr wire.RangeHeader) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.rc != nil:
		w.rc.Receive(w.rcCtx, rs, hdr)
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
	w.rc, w.rcCtx = rc, ctx
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

// Dial connects to addr ("host:port"), verifies the server's fingerprint
// inside the TLS handshake, and exchanges hello/welcome. The trust policy is
// that of [certs.HostCheck]: a server seen for the first time is pinned in
// cfg.KnownHosts only once the welcome has arrived.
func Dial(ctx context.Context, addr string, cfg ClientConfig) (*Client, error) {
	if cfg.Identity == nil {
		return nil, errors.New("client identity not set")
	}
	if cfg.HostKey == "" {
		cfg.HostKey = addr
	}
	if cfg.Software == "" {
		cfg.Software = "qxfer"
	}
	// The trust policy is certs.HostCheck's: Verify inside the handshake,
	// Pin a first-seen server once the session is up.
	trust, err := certs.NewHostCheck(cfg.KnownHosts, cfg.HostKey, cfg.Fingerprint)
	if err != nil {
		return nil, err
	}
	tlsConf := quicx.ClientTLS(cfg.Identity, ALPN, "qxfer", trust.Verify)
	qc, err := quicx.Dial(ctx, addr, tlsConf, cfg.Quic, cfg.Logger)
	if err != nil {
		if err := trust.Err(); err != nil {
			return nil, err
		}
		if quicx.IsPeerRefusedCert(err) {
			return nil, &UnauthorizedError{Fingerprint: cfg.Identity.Fingerprint}
		}
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	c, err := start(ctx, qc, cfg)
	if err != nil {
		qc.Close(quic.ApplicationErrorCode(CodeOK), "")
		if quicx.IsPeerRefusedCert(err) {
			return nil, &UnauthorizedError{Fingerprint: cfg.Identity.Fingerprint}
		}
		return nil, err
	}
	if cfg.Pool.striped() {
		// Every pool connection must reach the server this one reached.
		member, err := certs.NewHostCheck(nil, cfg.HostKey, trust.Fingerprint())
		if err != nil {
			c.Close()
			return nil, err
		}
		c.startPool(ctx, addr, quicx.ClientTLS(cfg.Identity, ALPN, "qxfer", member.Verify), cfg)
	}
	added, err := trust.Pin()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("save server fingerprint: %w", err)
	}
	if added && cfg.OnNewHost != nil {
		cfg.OnNewHost(cfg.HostKey, trust.Fingerprint())
	}
	return c, nil
}

// start opens the command stream and runs the hello exchange.
func start(ctx context.Context, qc *quicx.Conn, cfg ClientConfig) (*Client, error) {
	str, err := qc.OpenStreamSync(ctx)
	if err != nil {
		return nil, fmt.Errorf("open command stream: %w", err)
	}
	if cfg.Table == nil {
		cfg.Table = NewTable()
	}
	c := &Client{
		conn: qc, cmd: newCmdChannel(str), log: cfg.Logger, table: cfg.Table,
		closed: make(chan struct{}), waiters: make(map[uint64]*waiter),
		lanes: xfer.NewLanes(),
	}
	c.lanes.Add(&xfer.Member{Conn: qc, Primary: true})
	if err := c.cmd.send(&wire.Hello{Magic: [4]byte([]byte(wire.Magic)), Version: wire.Version, Software: cfg.Software}); err != nil {
		return nil, fmt.Errorf("send hello: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		str.SetReadDeadline(dl)
	} else {
		str.SetReadDeadline(time.Now().Add(30 * time.Second))
	}
	msg, err := c.cmd.recv()
	if err != nil {
		if e := xfer.StreamError(nil, err, ""); e.Code == CodeVersionMismatch {
			return nil, e
		}
		return nil, fmt.Errorf("waiting for welcome: %w", err)
	}
	str.SetReadDeadline(time.Time{})
	switch m := msg.(type) {
	case *wire.Welcome:
		c.welcome = m
	case *wire.Reject:
		return nil, &Error{Code: m.Code, Remote: true, Msg: m.Msg}
	default:
		return nil, fmt.Errorf("expected welcome, got %s", msg.Type())
	}
	c.wg.Go(c.readLoop)
	c.wg.Go(func() { c.acceptStreams(qc) })
	c.watch(qc, cfg)
	return c, nil
}

// watch starts the route watcher of one of the session's connections.
func (c *Client) watch(qc *quicx.Conn, cfg ClientConfig) {
	if cfg.WatchRoute < 0 {
		return
	}
	interval := cfg.WatchRoute
	if interval == 0 {
		interval = 2 * time.Second
	}
	source := cfg.RouteSource
	if source == nil {
		source = quicx.RouteSource
	}
	c.wg.Go(func() { c.watchRoute(qc, interval, source, cfg.OnEvent) })
}

// Transfers is the client's table of live transfers.
func (c *Client) Transfers() *Table { return c.table }

// Stats returns the connection's QUIC statistics.
func (c *Client) Stats() quic.ConnectionStats { return c.conn.ConnectionStats() }

// Close ends the session with no error and waits for its goroutines.
func (c *Client) Close() error { return c.CloseWithCode(CodeOK, "") }

// CloseWithCode ends the session with code (for example CodeInterrupted)
// and waits for its goroutines.
func (c *Client) CloseWithCode(code ErrorCode, msg string) error {
	c.fail(ErrClosed)
	c.closeMembers(code, msg)
	err := c.conn.Close(quic.ApplicationErrorCode(code), msg)
	c.wg.Wait()
	return err
}

// Done is closed when the session has ended.
func (c *Client) Done() <-chan struct{} { return c.closed }

// Err says why the session ended, once Done is closed.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeErr
}

func (c *Client) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeErr == nil {
		c.closeErr = err
		close(c.closed)
	}
}

// readLoop dispatches command-channel messages to their waiters.
func (c *Client) readLoop() {
	for {
		msg, err := c.cmd.recv()
		if err != nil {
			c.fail(sessionError(err))
			return
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
	case *wire.Seal:
		return m.ID, true
	case *wire.Ack:
		return m.ID, true
	}
	return 0, false
}

// acceptStreams hands the server's range streams (pulls) on one
// connection of the session to their waiters.
func (c *Client) acceptStreams(qc *quicx.Conn) {
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
		w.addRange(rs, hdr)
	}
}

// request allocates the next request id, registers a waiter for it and
// sends the message build makes. The server requires ids to increase in
// the order it receives them, so allocation and sending happen under one
// lock.
func (c *Client) request(build func(id uint64) wire.Message) (uint64, *waiter, error) {
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

// done unregisters a waiter.
func (c *Client) done(id uint64, w *waiter) {
	c.mu.Lock()
	if c.waiters[id] == w {
		delete(c.waiters, id)
	}
	c.mu.Unlock()
	close(w.gone)
	w.dropEarly()
}

// await returns the next response for w.
func (c *Client) await(ctx context.Context, w *waiter) (wire.Message, error) {
	select {
	case m := <-w.msgs:
		return m, nil
	case <-ctx.Done():
		return nil, xfer.CtxError(ctx)
	case <-c.closed:
		return nil, c.Err()
	}
}

func (c *Client) newJobID() uint64 { return c.table.newID() }

// lost reports whether the connection has gone away.
func (c *Client) lost() bool {
	select {
	case <-c.closed:
		return true
	case <-c.conn.Context().Done():
		return true
	default:
		return false
	}
}

// Migrations counts the times the connection moved to a new path.
func (c *Client) Migrations() int { return c.conn.Migrations() }

// Migrate moves the connection to a new local UDP socket (laddr "" for
// any), keeping every transfer running.
// Every pool connection moves too, to a socket on the same host.
func (c *Client) Migrate(ctx context.Context, laddr string) error {
	if err := c.conn.Migrate(ctx, laddr); err != nil {
		return err
	}
	host := laddr
	if h, _, err := net.SplitHostPort(laddr); err == nil {
		host = h
	}
	return c.migrateMembers(ctx, host)
}

// watchRoute migrates the connection when the route to the server changes.
// If a migration fails, the old path is presumed gone: the connection is
// closed so that a Session reconnects and resumes.
func (c *Client) watchRoute(qc *quicx.Conn, interval time.Duration, source func(net.Addr) (net.IP, error), onEvent func(Event)) {
	qc.WatchRouteWith(qc.Context(), interval, source, func(from, to net.IP, err error) {
		ev := Event{Kind: EventMigrated, Detail: fmt.Sprintf("%s -> %s", from, to), Err: err}
		if err != nil {
			ev.Kind = EventMigrationFailed
			if qc != c.conn {
				// A pool connection: its ranges move to the others.
				c.log.Warn().Err(err).Msg("pool connection failed to migrate; closing it")
				qc.Close(quic.ApplicationErrorCode(CodeOK), "migration failed")
				return
			}
			c.log.Warn().Err(err).Msg("migration failed; reconnecting")
			c.conn.Close(quic.ApplicationErrorCode(CodeOK), "migration failed")
		} else if qc != c.conn {
			return // one event per route change: the primary's
		}
		if onEvent != nil {
			onEvent(ev)
		}
	})
}

// Entry describes a remote file or directory.
type Entry struct {
	Name  string
	Kind  EntryKind
	Size  int64
	Mode  fs.FileMode
	MTime time.Time
}

// EntryKind is the type of a remote entry.
type EntryKind uint8

// Entry kinds.
const (
	KindFile    = EntryKind(wire.KindFile)
	KindDir     = EntryKind(wire.KindDir)
	KindSymlink = EntryKind(wire.KindSymlink)
	KindOther   = EntryKind(wire.KindOther)
)

// IsDir reports whether e is a directory.
func (e Entry) IsDir() bool { return e.Kind == KindDir }

func entryFromWire(w wire.Entry) Entry {
	return Entry{Name: w.Name, Kind: EntryKind(w.Kind), Size: int64(min(w.Size, 1<<62)), Mode: fs.FileMode(w.Mode).Perm(), MTime: w.MTime}
}

// List lists a remote directory (or describes a single file).
func (c *Client) List(ctx context.Context, p string) ([]Entry, error) {
	id, w, err := c.request(func(id uint64) wire.Message { return &wire.List{ID: id, Path: p} })
	if err != nil {
		return nil, err
	}
	defer c.done(id, w)
	var out []Entry
	for {
		msg, err := c.await(ctx, w)
		if err != nil {
			return nil, err
		}
		switch m := msg.(type) {
		case *wire.ListResult:
			for _, e := range m.Entries {
				out = append(out, entryFromWire(e))
			}
			if m.Last {
				return out, nil
			}
		case *wire.Reject:
			return nil, rejected(m, p)
		default:
			return nil, fmt.Errorf("list %s: unexpected %s", p, msg.Type())
		}
	}
}

// Stat describes one remote path.
func (c *Client) Stat(ctx context.Context, p string) (Entry, error) {
	id, w, err := c.request(func(id uint64) wire.Message { return &wire.Stat{ID: id, Path: p} })
	if err != nil {
		return Entry{}, err
	}
	defer c.done(id, w)
	msg, err := c.await(ctx, w)
	if err != nil {
		return Entry{}, err
	}
	switch m := msg.(type) {
	case *wire.StatResult:
		return entryFromWire(m.Entry), nil
	case *wire.Reject:
		return Entry{}, rejected(m, p)
	}
	return Entry{}, fmt.Errorf("stat %s: unexpected %s", p, msg.Type())
}

// Mkdir creates a remote directory and its parents.
func (c *Client) Mkdir(ctx context.Context, p string) error {
	id, w, err := c.request(func(id uint64) wire.Message { return &wire.Mkdir{ID: id, Path: p, Mode: 0o755} })
	if err != nil {
		return err
	}
	defer c.done(id, w)
	msg, err := c.await(ctx, w)
	if err != nil {
		return err
	}
	switch m := msg.(type) {
	case *wire.OK:
		return nil
	case *wire.Reject:
		return rejected(m, p)
	}
	return fmt.Errorf("mkdir %s: unexpected %s", p, msg.Type())
}

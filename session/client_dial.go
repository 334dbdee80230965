package session

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/rs/zerolog"

	"github.com/qxfer/qxfer/certs"
	"github.com/qxfer/qxfer/quicx"
	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// ALPN is the TLS application protocol of qxfer protocol version 3
// (wire.Version); a peer of another version fails the handshake.
const ALPN = "qxfer/3"

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
	// RetryFor bounds how long the Session keeps dialing after its
	// connection died. Default 2 minutes; negative disables reconnecting.
	RetryFor time.Duration
	// Table is where the connection registers its transfers; Dial gives
	// every connection of a Session the Session's own. Default: a new one.
	Table *Table
	// WatchRoute is how often the client checks which local address routes
	// to the server, migrating the connection when it changes. Default 2s;
	// negative disables the watch.
	WatchRoute time.Duration
	// OnEvent, if set, receives connection events (reconnects and
	// migrations).
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

// Dial opens a session with the server at addr ("host:port"): it connects,
// verifies the server's fingerprint inside the TLS handshake, and
// exchanges hello/welcome; the Session then reconnects by itself for up to
// cfg.RetryFor. The trust policy is that of [certs.HostCheck]: a server
// seen for the first time is pinned in cfg.KnownHosts only once the
// welcome has arrived. A refused client gets an *UnauthorizedError, a
// server of another protocol version an *Error with CodeVersionMismatch.
func Dial(ctx context.Context, addr string, cfg ClientConfig) (*Session, error) {
	dial := func(ctx context.Context, table *Table) (*clientConn, error) {
		c := cfg
		c.Table = table
		return dialConn(ctx, addr, c)
	}
	return newSession(ctx, dial, sessionConfig{RetryFor: cfg.RetryFor, OnEvent: cfg.OnEvent, Logger: cfg.Logger})
}

// dialConn connects one connection of a session to addr.
func dialConn(ctx context.Context, addr string, cfg ClientConfig) (*clientConn, error) {
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
		c.startPool(ctx, joinAddr(addr, c.welcome), quicx.ClientTLS(cfg.Identity, ALPN, "qxfer", member.Verify), cfg)
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
func start(ctx context.Context, qc *quicx.Conn, cfg ClientConfig) (*clientConn, error) {
	str, err := qc.OpenStreamSync(ctx)
	if err != nil {
		return nil, fmt.Errorf("open command stream: %w", err)
	}
	if cfg.Table == nil {
		cfg.Table = NewTable()
	}
	c := &clientConn{
		conn: qc, cmd: newCmdChannel(str), log: cfg.Logger, table: cfg.Table,
		closed: make(chan struct{}), waiters: make(map[uint64]*waiter),
		lanes: xfer.NewLanes(), space: xfer.NewSpace(0, "the local disk"),
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
		if e := xfer.StreamError(context.Background(), err, ""); e.Code == CodeVersionMismatch {
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
	c.askFeatures()
	c.watch(qc, cfg)
	return c, nil
}

// watch starts the route watcher of one of the session's connections.
func (c *clientConn) watch(qc *quicx.Conn, cfg ClientConfig) {
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

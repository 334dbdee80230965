package quicx

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/quic-go/quic-go"
	"github.com/rs/zerolog"
)

// alertBadCertificate is the TLS alert Go sends when VerifyConnection
// refuses the peer. QUIC carries TLS alerts as transport error 0x100+alert.
const alertBadCertificate = 42

// Listener accepts qxfer connections on one UDP socket.
type Listener struct {
	udp *net.UDPConn
	tr  *quic.Transport
	ln  *quic.Listener
}

// Listen opens a UDP socket on addr (for example "127.0.0.1:4433" or
// ":4433"), tunes its buffers and starts a QUIC listener on it.
func Listen(addr string, tlsConf *tls.Config, cfg Config, log zerolog.Logger) (*Listener, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	udp, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	TuneBuffers(udp, log)
	tr := &quic.Transport{Conn: udp}
	ln, err := tr.Listen(tlsConf, cfg.quicConfig(false))
	if err != nil {
		tr.Close()
		udp.Close()
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return &Listener{udp: udp, tr: tr, ln: ln}, nil
}

// Accept waits for the next connection whose handshake has completed.
func (l *Listener) Accept(ctx context.Context) (*quic.Conn, error) { return l.ln.Accept(ctx) }

// Addr is the local UDP address the listener is bound to.
func (l *Listener) Addr() *net.UDPAddr { return l.udp.LocalAddr().(*net.UDPAddr) }

// Close stops accepting, closes every connection of the listener and
// releases the socket.
func (l *Listener) Close() error {
	err := l.ln.Close()
	err = errors.Join(err, l.tr.Close())
	return errors.Join(err, l.udp.Close())
}

// Conn is a client connection together with the UDP sockets and
// transports it owns. Migrate moves it to a new socket; the old ones stay
// open (quic-go tears down a connection whose transport closes) until Close.
type Conn struct {
	*quic.Conn
	log    zerolog.Logger
	remote *net.UDPAddr // the server; fixed, unlike quic-go's RemoteAddr during a migration

	// mu guards the following fields.
	mu         sync.Mutex
	udp        *net.UDPConn // current socket
	tr         *quic.Transport
	old        []io.Closer // transports and sockets of earlier paths
	migrations int
}

// Dial resolves addr ("host:port"), opens a fresh UDP socket and performs
// the QUIC and TLS handshake, within ctx and cfg.HandshakeTimeout. When
// the host answers that nothing listens on the port, it fails at once
// with a *NoListenerError (Linux; see there).
func Dial(ctx context.Context, addr string, tlsConf *tls.Config, cfg Config, log zerolog.Logger) (*Conn, error) {
	ra, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", addr, err)
	}
	udp, err := net.ListenUDP("udp", nil)
	if err != nil {
		return nil, fmt.Errorf("open udp socket: %w", err)
	}
	TuneBuffers(udp, log)
	setRecvErr(udp, true)
	tr := &quic.Transport{Conn: udp}
	qc, err := tr.Dial(ctx, ra, tlsConf, cfg.quicConfig(true))
	if err != nil {
		tr.Close()
		udp.Close()
		return nil, noListener(addr, err)
	}
	setRecvErr(udp, false)
	return &Conn{Conn: qc, udp: udp, tr: tr, log: log, remote: ra}, nil
}

// Close closes the connection with code and reason, then releases the
// transport and socket.
func (c *Conn) Close(code quic.ApplicationErrorCode, reason string) error {
	err := c.Conn.CloseWithError(code, reason)
	c.mu.Lock()
	defer c.mu.Unlock()
	err = errors.Join(err, c.tr.Close(), c.udp.Close())
	for _, o := range c.old {
		o.Close()
	}
	c.old = nil
	return err
}

// IsPeerRefusedCert reports whether err is the peer aborting the handshake
// because it did not accept our certificate (an unknown client, for a
// server; a fingerprint mismatch, for a client).
func IsPeerRefusedCert(err error) bool {
	var te *quic.TransportError
	return errors.As(err, &te) && te.Remote && te.ErrorCode == quic.TransportErrorCode(0x100+alertBadCertificate)
}

// Abandon drops the connection without telling the peer, as a crash or a
// dead network would: its sockets are closed, so no CONNECTION_CLOSE gets
// out. The peer notices only at its idle timeout.
func (c *Conn) Abandon() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.udp.Close()
	for _, o := range c.old {
		o.Close()
	}
	c.tr.Close()
}

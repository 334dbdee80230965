package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/qxfer/qxfer/certs"
	"github.com/qxfer/qxfer/quicx"
	"github.com/qxfer/qxfer/session"
)

// clientFlags are shared by every command that connects to a server.
type clientFlags struct {
	Fingerprint    string `name:"fingerprint" env:"QXFER_FINGERPRINT" placeholder:"FP" help:"Accept only a server with this fingerprint (instead of known_hosts)."`
	ConnectTimeout string `name:"connect-timeout" default:"15s" env:"QXFER_CONNECT_TIMEOUT" help:"Give up connecting after this long (the whole dial, QUIC handshake included)."`
	IdleTimeout    string `name:"idle-timeout" default:"30s" env:"QXFER_IDLE_TIMEOUT" help:"Consider the connection dead after this long without packets (keep-alives are sent)."`
}

// sessionFlags are the flags of the commands that transfer files (push,
// pull, shell); ls has no transfers to resume or stripe.
type sessionFlags struct {
	RetryFor    string `name:"retry-for" default:"2m" env:"QXFER_RETRY_FOR" help:"When the connection dies, keep reconnecting (with backoff) this long, then resume unfinished transfers; 0 disables."`
	Connections string `name:"connections" default:"1" env:"QXFER_CONNECTIONS" placeholder:"N|auto" help:"QUIC connections to stripe file bytes over: 1 to 64, or auto (start with one, add more while goodput grows under random loss, up to 64). Helps on lossy links; see README, \"Lossy links\"."`
}

// lsSession is what ls, which has no sessionFlags, connects with: one
// connection, reconnecting for the default two minutes.
var lsSession = sessionFlags{RetryFor: "2m", Connections: "1"}

// parseConnections reads --connections.
func parseConnections(s string) (session.PoolConfig, error) {
	if s == "auto" {
		return session.PoolConfig{Auto: true}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > session.MaxPoolSize {
		return session.PoolConfig{}, fmt.Errorf("want a number from 1 to %d or auto, got %q", session.MaxPoolSize, s)
	}
	return session.PoolConfig{Size: n}, nil
}

// connect dials r's server with this installation's identity, pinning its
// fingerprint in known_hosts on first contact; ctx bounds the dial, and
// ending it means the user interrupted. The session reconnects by itself
// for --retry-for when the connection dies. A host alias from config.toml
// is replaced by its address, and its fingerprint is pinned unless
// --fingerprint is given.
func (f *clientFlags) connect(ctx context.Context, e *env, r remote, sf *sessionFlags) (*session.Session, error) {
	r, pin := e.config.resolve(r)
	id, err := e.identity()
	if err != nil {
		return nil, err
	}
	cfg := session.ClientConfig{Identity: id, HostKey: r.Addr(), Software: "qxfer/" + version(), Logger: e.log}
	if f.Fingerprint != "" {
		fp, err := certs.ParseFingerprint(f.Fingerprint)
		if err == nil && fp.IsZero() {
			err = fmt.Errorf("%w: the all-zero fingerprint", certs.ErrBadFingerprint)
		}
		if err != nil {
			return nil, withExit(exitUsage, fmt.Errorf("--fingerprint: %w", err), "pass the server's fingerprint as printed by 'qxfer id' on the server")
		}
		cfg.Fingerprint = fp
	} else if !pin.IsZero() {
		cfg.Fingerprint = pin
	} else {
		kh, err := certs.LoadKnownHosts(filepath.Join(e.home, certs.KnownHostsFile))
		if err != nil {
			return nil, err
		}
		cfg.KnownHosts = kh
		cfg.OnNewHost = func(host string, fp certs.Fingerprint) {
			fmt.Fprintf(e.stderr, "qxfer: new server %s, fingerprint %s\nqxfer: pinned in %s (trust on first use)\n", host, fp, kh.Path())
		}
	}
	if cfg.Pool, err = parseConnections(sf.Connections); err != nil {
		return nil, withExit(exitUsage, fmt.Errorf("--connections: %w", err))
	}
	if cfg.Quic.IdleTimeout, err = parseDuration(f.IdleTimeout); err != nil {
		return nil, withExit(exitUsage, fmt.Errorf("--idle-timeout: %w", err))
	}
	timeout, err := parseDuration(f.ConnectTimeout)
	if err != nil {
		return nil, withExit(exitUsage, fmt.Errorf("--connect-timeout: %w", err))
	}
	retry, err := time.ParseDuration(sf.RetryFor)
	if err != nil || retry < 0 {
		return nil, withExit(exitUsage, fmt.Errorf("--retry-for: bad duration %q", sf.RetryFor))
	}
	cfg.RetryFor = retry
	if retry == 0 {
		cfg.RetryFor = -1 // session.ClientConfig: negative disables reconnecting
	}
	cfg.OnEvent = func(ev session.Event) { printEvent(e, ev) }
	// --connect-timeout bounds the whole dial, whatever its value: the
	// QUIC handshake's own timeout is set to it too (quic-go's default,
	// 10s, would otherwise cut a longer one short).
	cfg.Quic.HandshakeTimeout = timeout
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := session.Dial(dctx, r.Addr(), cfg)
	if err != nil {
		return nil, dialError(ctx, dctx, r, timeout, err)
	}
	return c, nil
}

// dialError words a failed dial of r, one wording per cause: the user
// interrupted (ctx ended), nothing listens on the port (ICMP port
// unreachable), nothing answered within timeout (dctx's deadline or
// quic-go's handshake timeout, which are the same duration), trust, or
// anything else.
func dialError(ctx, dctx context.Context, r remote, timeout time.Duration, err error) error {
	var me *certs.MismatchError
	var ue *session.UnauthorizedError
	var nl *quicx.NoListenerError
	switch {
	case errors.As(err, &me), errors.As(err, &ue):
		return err
	case ctx.Err() != nil:
		return withExit(exitInterrupted, errors.New("interrupted while connecting"))
	case errors.As(err, &nl):
		return withExit(exitConnect, fmt.Errorf("nothing listens on UDP %d at %s", r.Port, r.Host),
			"is 'qxfer serve' running there, and listening on that port (--listen)?")
	case dctx.Err() != nil, quicx.IsNoAnswer(err):
		return withExit(exitConnect, fmt.Errorf("no answer from %s within %s", r.Addr(), timeout),
			fmt.Sprintf("is 'qxfer serve' running on %s, and is UDP port %d open in every firewall on the way?", r.Host, r.Port),
			"a slow link may need a longer --connect-timeout")
	}
	return withExit(exitConnect, err, fmt.Sprintf("is 'qxfer serve' running on %s and is UDP port %d open?", r.Host, r.Port))
}

// parseDuration reads a duration flag that must be positive
// (--connect-timeout, --idle-timeout, doctor's --timeout).
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, fmt.Errorf("must be positive, got %s", s)
	}
	return d, nil
}

package session

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/rs/zerolog"

	"github.com/qxfer/qxfer/quicx"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// Migrations counts the times the connection moved to a new path.
func (c *clientConn) Migrations() int { return c.conn.Migrations() }

// Migrate moves the connection to a new local UDP socket (laddr "" for
// any), keeping every transfer running.
// Every pool connection moves too, to a socket on the same host.
func (c *clientConn) Migrate(ctx context.Context, laddr string) error {
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
func (c *clientConn) watchRoute(qc *quicx.Conn, interval time.Duration, source func(net.Addr) (net.IP, error), onEvent func(Event)) {
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
			lvl := zerolog.WarnLevel
			if onEvent != nil {
				lvl = zerolog.DebugLevel // the event tells the user (Session.notice)
			}
			c.log.WithLevel(lvl).Err(err).Msg("migration failed; reconnecting")
			c.conn.Close(quic.ApplicationErrorCode(CodeOK), "migration failed")
		} else if qc != c.conn {
			return // one event per route change: the primary's
		}
		if onEvent != nil {
			onEvent(ev)
		}
	})
}

// migrateMembers moves every connection of the session to a new local
// address (host only; ports are chosen by the system), as when the
// machine changes networks.
func (c *clientConn) migrateMembers(ctx context.Context, host string) error {
	if c.pool == nil {
		return nil
	}
	c.pool.mu.Lock()
	ms := append([]*xfer.Member(nil), c.pool.members...)
	c.pool.mu.Unlock()
	var errs []error
	for _, m := range ms {
		if m.Dead() {
			continue
		}
		laddr := ""
		if host != "" {
			laddr = net.JoinHostPort(host, "0")
		}
		if err := m.Conn.(*quicx.Conn).Migrate(ctx, laddr); err != nil {
			errs = append(errs, err)
			m.Conn.(*quicx.Conn).Close(quic.ApplicationErrorCode(CodeOK), "migration failed")
		}
	}
	return errors.Join(errs...)
}

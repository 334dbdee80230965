package quicx

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/quic-go/quic-go"
)

// Migrate moves the live connection to a fresh UDP socket bound to laddr
// ("" for any address and a new port) using quic-go's path API: AddPath on
// a new Transport, Probe (PATH_CHALLENGE/PATH_RESPONSE with new connection
// IDs), Switch. Streams carry on; quic-go resets congestion control for the
// new path. On failure the connection stays on its current path.
func (c *Conn) Migrate(ctx context.Context, laddr string) error {
	var la *net.UDPAddr
	if laddr != "" {
		var err error
		if la, err = net.ResolveUDPAddr("udp", laddr); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	udp, err := net.ListenUDP("udp", la)
	if err != nil {
		return fmt.Errorf("migrate: open socket: %w", err)
	}
	TuneBuffers(udp, c.log)
	tr := &quic.Transport{Conn: udp}
	path, err := c.Conn.AddPath(tr)
	if err != nil {
		tr.Close()
		udp.Close()
		return fmt.Errorf("migrate: %w", err)
	}
	if err := path.Probe(ctx); err != nil {
		path.Close()
		tr.Close()
		udp.Close()
		return fmt.Errorf("migrate: probe %s: %w", udp.LocalAddr(), err)
	}
	if err := path.Switch(); err != nil {
		path.Close()
		tr.Close()
		udp.Close()
		return fmt.Errorf("migrate: switch: %w", err)
	}
	c.mu.Lock()
	c.old = append(c.old, c.tr, c.udp)
	c.tr, c.udp = tr, udp
	c.migrations++
	c.mu.Unlock()
	c.log.Info().Stringer("local", udp.LocalAddr()).Msg("connection migrated to a new path")
	return nil
}

// Migrations counts successful Migrate calls.
func (c *Conn) Migrations() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.migrations
}

// LocalUDPAddr is the address of the socket currently in use.
func (c *Conn) LocalUDPAddr() *net.UDPAddr {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.udp.LocalAddr().(*net.UDPAddr)
}

// RouteSource returns the local IP the operating system would use to reach
// remote now (no packet is sent: a connected UDP socket only consults the
// routing table).
func RouteSource(remote net.Addr) (net.IP, error) {
	ra, ok := remote.(*net.UDPAddr)
	if !ok {
		return nil, fmt.Errorf("not a udp address: %v", remote)
	}
	c, err := net.DialUDP("udp", nil, ra)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP, nil
}

// WatchRoute polls, every interval until ctx is done, which local address
// routes to the server; when it changes (a laptop moved from Wi-Fi to a
// hotspot), it migrates the connection to a socket on the new address.
// onMigrate, if set, is called after every attempt with its error (nil on
// success). It returns when ctx is done or the connection has closed.
func (c *Conn) WatchRoute(ctx context.Context, interval time.Duration, onMigrate func(from, to net.IP, err error)) {
	c.WatchRouteWith(ctx, interval, RouteSource, onMigrate)
}

// WatchRouteWith is WatchRoute with the route lookup as a parameter, so
// tests can change the route without changing the machine's network. It
// asks about the address dialled, never quic-go's RemoteAddr, which is not
// safe to read while the connection switches paths.
func (c *Conn) WatchRouteWith(ctx context.Context, interval time.Duration, source func(net.Addr) (net.IP, error), onMigrate func(from, to net.IP, err error)) {
	last, err := source(c.remote)
	if err != nil {
		last = nil
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.Context().Done():
			return
		case <-t.C:
		}
		now, err := source(c.remote)
		if err != nil || now.Equal(last) {
			continue // no route right now, or nothing changed
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		merr := c.Migrate(pctx, net.JoinHostPort(now.String(), "0"))
		cancel()
		if onMigrate != nil {
			onMigrate(last, now, merr)
		}
		if merr == nil {
			last = now
		}
	}
}

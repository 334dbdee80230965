package quicx

import (
	"os"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/qlog"
)

// DefaultPort is the UDP port qxfer listens on and dials when none is given.
const DefaultPort = 4433

// Config tunes the QUIC transport. The zero value is ready to use; every
// field documents its default.
type Config struct {
	// IdleTimeout closes a connection that has been silent this long.
	// Default 30s.
	IdleTimeout time.Duration
	// KeepAlive is how often an otherwise idle client pings the server so
	// NATs keep the mapping open. Default 10s; negative disables it. It is
	// always capped by quic-go at half the idle timeout.
	KeepAlive time.Duration
	// HandshakeTimeout bounds the QUIC+TLS handshake. Default 10s.
	HandshakeTimeout time.Duration
	// MaxIncomingStreams is how many bidirectional streams the peer may
	// have open at once. qxfer uses exactly one (the command channel), so
	// the default is 2 (one spare for a replacement while the old one
	// drains).
	MaxIncomingStreams int64
	// MaxIncomingUniStreams is how many per-file streams the peer may have
	// open at once. Default 1024: a stream's credit comes back a round
	// trip after it was opened, and with 256 a push of 4 KiB files over
	// 50 ms ran out of credit (STREAMS_BLOCKED in its qlog, 1 MB in
	// flight) before the link or the congestion window did; 1024 streams
	// of 4 KiB are three times what 200 Mbit/s carries in 50 ms. The
	// receive windows (MaxConnWindow) still bound the bytes they buffer.
	MaxIncomingUniStreams int64
	// MaxStreamWindow caps one stream's receive window. Default 32 MiB,
	// enough for one file to fill a 1 Gbit/s link at 250 ms RTT
	// (quic-go's own default, 6 MiB, caps a stream near 100 Mbit/s at
	// 50 ms).
	MaxStreamWindow uint64
	// MaxConnWindow caps the connection receive window. Default 64 MiB.
	MaxConnWindow uint64
}

func (c Config) populate() Config {
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 30 * time.Second
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = 10 * time.Second
	}
	if c.KeepAlive < 0 {
		c.KeepAlive = 0
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.MaxIncomingStreams <= 0 {
		c.MaxIncomingStreams = 2
	}
	if c.MaxIncomingUniStreams <= 0 {
		c.MaxIncomingUniStreams = 1024
	}
	if c.MaxStreamWindow == 0 {
		c.MaxStreamWindow = 32 << 20
	}
	if c.MaxConnWindow == 0 {
		c.MaxConnWindow = 64 << 20
	}
	return c
}

// quicConfig returns the quic-go configuration for c. keepAlive is only
// set on the client side: the server never needs to keep a NAT open.
func (c Config) quicConfig(client bool) *quic.Config {
	c = c.populate()
	qc := &quic.Config{
		HandshakeIdleTimeout:           c.HandshakeTimeout,
		MaxIdleTimeout:                 c.IdleTimeout,
		MaxIncomingStreams:             c.MaxIncomingStreams,
		MaxIncomingUniStreams:          c.MaxIncomingUniStreams,
		InitialStreamReceiveWindow:     1 << 20,
		MaxStreamReceiveWindow:         c.MaxStreamWindow,
		InitialConnectionReceiveWindow: 2 << 20,
		MaxConnectionReceiveWindow:     c.MaxConnWindow,
	}
	if client {
		qc.KeepAlivePeriod = c.KeepAlive
	}
	if os.Getenv("QLOGDIR") != "" {
		// quic-go's convention (its examples and interop runner): one qlog
		// file per connection, <odcid>_<client|server>.sqlog, for qvis.
		qc.Tracer = qlog.DefaultConnectionTracer
	}
	return qc
}

// Package udpproxy is an in-process UDP proxy for tests and benchmarks. It
// sits between QUIC clients and a server on loopback and emulates a link:
// one-way delay with optional jitter, random loss, a rate limit with a
// bounded drop-tail queue, a blackhole switch and NAT rebinding.
//
// The proxy behaves like a NAT. Clients send to Addr; for every distinct
// client source address the proxy opens its own upstream socket and
// forwards to the server from it, so several clients, or one client that
// moved to a new local socket, look like distinct peers to the server.
// Rebind replaces every upstream socket, which the server sees as the
// client's address changing.
//
// Each direction is modelled in this order:
//
//	blackhole -> Config.Drop hook -> random loss -> bottleneck queue
//	(RateBits, QueueBytes) -> delay + jitter -> delivery
//
// One scheduler goroutine per direction releases packets at their due time
// from a time-ordered queue with a single timer. Packets are delivered in
// arrival order unless Config.Reorder is set.
package udpproxy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// socketBufferSize is the kernel buffer asked for on every socket, so that
// bursts are absorbed by the emulated queue rather than by the kernel.
const socketBufferSize = 2 << 20

// maxPeers bounds the number of client mappings, and with them the number
// of upstream reader goroutines. Packets from further clients are dropped.
const maxPeers = 1024

// defaultQueueBytes is the smallest default queue when RateBits is set.
const defaultQueueBytes = 64 << 10

// ErrClosed is returned by Rebind after Close.
var ErrClosed = errors.New("udpproxy: proxy closed")

// Direction is the direction a packet travels through the proxy.
type Direction int

const (
	// ToServer is from a client to the server.
	ToServer Direction = iota
	// ToClient is from the server to a client.
	ToClient
)

// String returns "ToServer" or "ToClient".
func (d Direction) String() string {
	switch d {
	case ToServer:
		return "ToServer"
	case ToClient:
		return "ToClient"
	default:
		return fmt.Sprintf("Direction(%d)", int(d))
	}
}

// Config describes the emulated link. Every field except Server has a
// working zero value: a transparent proxy.
type Config struct {
	// Server is where packets from clients are forwarded. Required; it must
	// be a loopback address (an unspecified address such as [::]:port is
	// taken to mean loopback).
	Server *net.UDPAddr
	// ListenAddr is the client-facing address. It must be on loopback.
	// Zero value: "127.0.0.1:0".
	ListenAddr string
	// Delay is the one-way propagation delay in each direction, so the
	// round-trip time through the proxy is 2*Delay. Zero: no delay.
	Delay time.Duration
	// Jitter adds a uniformly random extra delay in [0, Jitter) to each
	// packet. Unless Reorder is set, a packet is never released before the
	// one that arrived ahead of it, so jitter does not reorder. Zero: none.
	Jitter time.Duration
	// Reorder lets jitter reorder packets. Zero: order is preserved.
	Reorder bool
	// Loss is the probability that a packet is dropped at random, applied
	// independently in each direction, from 0 to 1. Zero: no random loss.
	Loss float64
	// RateBits is the bottleneck rate in bits per second of UDP payload, in
	// each direction. A packet occupies the bottleneck for len*8/RateBits;
	// packets wait in a drop-tail queue of QueueBytes while it is busy.
	// All clients share the bottleneck of a direction, as they would share
	// one link. Zero: unlimited.
	RateBits int64
	// QueueBytes is the bottleneck queue size per direction, in bytes,
	// counting the packet being serialised. Only used when RateBits > 0.
	// Zero: max(64 KiB, one round trip's worth at RateBits, that is
	// RateBits/8 * 2*Delay).
	QueueBytes int
	// Seed seeds the random numbers for loss and jitter. With the same seed
	// and the same packet sequence in a direction, the same packets are
	// dropped. Zero: seeded from the clock.
	Seed int64
	// Drop, if set, is called for every packet that is not blackholed,
	// before random loss; returning true drops the packet. p is only valid
	// during the call. Drop may be called concurrently from several
	// goroutines. Zero: no hook.
	Drop func(dir Direction, p []byte) bool
}

// populate fills in defaults and checks the configuration. It returns the
// client-facing address to listen on.
func (c *Config) populate() (*net.UDPAddr, error) {
	if c.Server == nil {
		return nil, errors.New("udpproxy: server address required")
	}
	if !c.Server.IP.IsLoopback() && !c.Server.IP.IsUnspecified() {
		return nil, fmt.Errorf("udpproxy: server %s is not on loopback", c.Server)
	}
	if c.ListenAddr == "" {
		c.ListenAddr = "127.0.0.1:0"
	}
	la, err := net.ResolveUDPAddr("udp", c.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("udpproxy: listen address: %w", err)
	}
	if !la.IP.IsLoopback() {
		return nil, fmt.Errorf("udpproxy: listen address %s is not on loopback", c.ListenAddr)
	}
	switch {
	case c.Delay < 0:
		return nil, fmt.Errorf("udpproxy: negative delay %s", c.Delay)
	case c.Jitter < 0:
		return nil, fmt.Errorf("udpproxy: negative jitter %s", c.Jitter)
	case c.Loss < 0 || c.Loss > 1:
		return nil, fmt.Errorf("udpproxy: loss %v outside [0, 1]", c.Loss)
	case c.RateBits < 0:
		return nil, fmt.Errorf("udpproxy: negative rate %d", c.RateBits)
	case c.QueueBytes < 0:
		return nil, fmt.Errorf("udpproxy: negative queue size %d", c.QueueBytes)
	}
	if c.RateBits > 0 && c.QueueBytes == 0 {
		bdp := float64(c.RateBits) / 8 * (2 * c.Delay).Seconds()
		c.QueueBytes = max(defaultQueueBytes, int(min(bdp, 1<<30)))
	}
	return la, nil
}

// Proxy forwards UDP between clients and one server through an emulated
// link. Create it with New and stop it with Close.
type Proxy struct {
	conn     *net.UDPConn   // client-facing socket
	server   netip.AddrPort // unmapped server address
	upstream netip.Addr     // loopback address upstream sockets bind to
	drop     func(Direction, []byte) bool
	links    [2]*link // indexed by Direction
	done     chan struct{}
	wg       sync.WaitGroup // every goroutine the proxy started

	blackhole atomic.Bool

	closeOnce sync.Once
	closeErr  error

	// mu guards the following fields.
	mu      sync.Mutex
	closed  bool
	peers   map[netip.AddrPort]*peer
	rebinds int
}

// peer is the NAT mapping of one client source address to an upstream
// socket.
type peer struct {
	client netip.AddrPort

	// mu guards the following fields.
	mu   sync.Mutex
	conn *net.UDPConn // replaced by Rebind
}

func (pe *peer) upstream() *net.UDPConn {
	pe.mu.Lock()
	defer pe.mu.Unlock()
	return pe.conn
}

// New opens the client-facing socket and starts the proxy goroutines.
func New(cfg Config) (*Proxy, error) {
	la, err := cfg.populate()
	if err != nil {
		return nil, err
	}
	server := cfg.Server.AddrPort()
	srvIP := server.Addr().Unmap()
	if srvIP.IsUnspecified() {
		if srvIP.Is4() {
			srvIP = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		} else {
			srvIP = netip.IPv6Loopback()
		}
	}
	conn, err := net.ListenUDP("udp", la)
	if err != nil {
		return nil, fmt.Errorf("udpproxy: %w", err)
	}
	if err := setBuffers(conn); err != nil {
		conn.Close()
		return nil, err
	}
	p := &Proxy{
		conn:     conn,
		server:   netip.AddrPortFrom(srvIP, server.Port()),
		upstream: srvIP,
		drop:     cfg.Drop,
		done:     make(chan struct{}),
		peers:    make(map[netip.AddrPort]*peer),
	}
	seed := uint64(cfg.Seed)
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	p.links[ToServer] = newLink(ToServer, &cfg, seed, p.sendToServer)
	p.links[ToClient] = newLink(ToClient, &cfg, seed, p.sendToClient)
	for _, l := range p.links {
		p.wg.Go(func() { l.run(p.done) })
	}
	p.wg.Go(p.readClients)
	return p, nil
}

// Addr is the client-facing address: clients dial this instead of the
// server.
func (p *Proxy) Addr() *net.UDPAddr {
	a := *p.conn.LocalAddr().(*net.UDPAddr)
	return &a
}

// SetBlackhole drops every packet in both directions while on. Packets
// already queued are still delivered.
func (p *Proxy) SetBlackhole(on bool) { p.blackhole.Store(on) }

// SetLoss sets the random loss probability of each direction. Values are
// clamped to [0, 1].
func (p *Proxy) SetLoss(toServer, toClient float64) {
	p.links[ToServer].setLoss(min(max(toServer, 0), 1))
	p.links[ToClient].setLoss(min(max(toClient, 0), 1))
}

// SetDelay sets the one-way delay of both directions for packets arriving
// from now on. Negative values count as zero. Unless Config.Reorder is set,
// a shorter delay does not let new packets overtake queued ones. The queue
// size chosen by New is not recomputed.
func (p *Proxy) SetDelay(d time.Duration) {
	d = max(d, 0)
	for _, l := range p.links {
		l.setDelay(d)
	}
}

// Rebind emulates NAT rebinding: every upstream socket is replaced by a
// fresh one on a new port, so the server sees each client arrive from a new
// address. Packets the server sends to the old ports are dropped by the
// kernel; packets still queued toward the server leave from the new
// sockets.
func (p *Proxy) Rebind() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	for _, pe := range p.peers {
		// Open the new socket before closing the old one so the port
		// differs.
		conn, err := p.listenUpstream()
		if err != nil {
			return err
		}
		pe.mu.Lock()
		old := pe.conn
		pe.conn = conn
		pe.mu.Unlock()
		old.Close()
		p.wg.Go(func() { p.readServer(pe, conn) })
	}
	p.rebinds++
	return nil
}

// Stats are counters since New.
type Stats struct {
	ToServer DirStats
	ToClient DirStats
	Rebinds  int // successful calls to Rebind
}

// DirStats counts the packets of one direction. Packets still queued are
// in neither Packets nor Dropped.
type DirStats struct {
	Packets uint64 // datagrams delivered
	Bytes   uint64 // UDP payload bytes delivered
	// Dropped counts datagrams dropped for any reason: blackhole, the Drop
	// hook, random loss, queue overflow, too many clients, or a failed
	// write (for example to a socket Rebind just closed).
	Dropped      uint64
	DroppedBytes uint64 // payload bytes of the dropped datagrams
	Overflow     uint64 // datagrams of Dropped lost to bottleneck queue overflow
}

// Stats returns the counters of both directions.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	rebinds := p.rebinds
	p.mu.Unlock()
	return Stats{
		ToServer: p.links[ToServer].snapshot(),
		ToClient: p.links[ToClient].snapshot(),
		Rebinds:  rebinds,
	}
}

// Close closes every socket, discards queued packets and waits for all the
// proxy's goroutines to return. Calling it again returns the same result.
func (p *Proxy) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		peers := p.peers
		p.peers = nil
		p.mu.Unlock()

		close(p.done)
		err := p.conn.Close()
		for _, pe := range peers {
			err = errors.Join(err, pe.upstream().Close())
		}
		p.wg.Wait()
		p.closeErr = err
	})
	return p.closeErr
}

// admit applies the blackhole and the Drop hook, then hands the packet to
// the link of dir.
func (p *Proxy) admit(dir Direction, pe *peer, b []byte) {
	l := p.links[dir]
	if p.blackhole.Load() || (p.drop != nil && p.drop(dir, b)) {
		l.drop(len(b))
		return
	}
	now := time.Now()
	l.submit(newPacket(pe, b), now)
}

// readClients reads the client-facing socket until it is closed.
func (p *Proxy) readClients() {
	buf := make([]byte, 64<<10)
	for {
		n, from, err := p.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		pe, ok := p.peer(from)
		if !ok {
			p.links[ToServer].drop(n)
			continue
		}
		p.admit(ToServer, pe, buf[:n])
	}
}

// peer returns the mapping for a client, creating it and its upstream
// socket on first use. It reports false when the proxy is closed, full or
// out of sockets.
func (p *Proxy) peer(client netip.AddrPort) (*peer, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, false
	}
	if pe, ok := p.peers[client]; ok {
		return pe, true
	}
	if len(p.peers) >= maxPeers {
		return nil, false
	}
	conn, err := p.listenUpstream()
	if err != nil {
		return nil, false
	}
	pe := &peer{client: client, conn: conn}
	p.peers[client] = pe
	p.wg.Go(func() { p.readServer(pe, conn) })
	return pe, true
}

// readServer reads one upstream socket of pe until it is closed, by Close
// or by Rebind.
func (p *Proxy) readServer(pe *peer, conn *net.UDPConn) {
	buf := make([]byte, 64<<10)
	for {
		n, _, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		p.admit(ToClient, pe, buf[:n])
	}
}

// listenUpstream opens a socket toward the server on a fresh port.
func (p *Proxy) listenUpstream() (*net.UDPConn, error) {
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.upstream, 0)))
	if err != nil {
		return nil, fmt.Errorf("udpproxy: upstream socket: %w", err)
	}
	if err := setBuffers(conn); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

func (p *Proxy) sendToServer(pk *packet) bool {
	_, err := pk.peer.upstream().WriteToUDPAddrPort(pk.buf, p.server)
	return err == nil
}

func (p *Proxy) sendToClient(pk *packet) bool {
	_, err := p.conn.WriteToUDPAddrPort(pk.buf, pk.peer.client)
	return err == nil
}

func setBuffers(conn *net.UDPConn) error {
	if err := conn.SetReadBuffer(socketBufferSize); err != nil {
		return fmt.Errorf("udpproxy: read buffer: %w", err)
	}
	if err := conn.SetWriteBuffer(socketBufferSize); err != nil {
		return fmt.Errorf("udpproxy: write buffer: %w", err)
	}
	return nil
}

package session

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/qxfer/qxfer/quicx"
	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// PoolConfig stripes a session over a pool of QUIC connections. quic-go's
// congestion control is NewReno, which collapses under random loss; N
// connections each get their own window, so a lossy link carries about N
// times as much (see PROTOCOL.md, "Connection pools", and the README on
// fairness).
type PoolConfig struct {
	// Size is the number of connections, the primary included. 0 and 1
	// mean one connection and no striping.
	Size int
	// Auto starts with one connection and adds more (8 times as many at
	// a step, dialled in parallel) while the aggregate goodput grows and
	// the loss looks random (loss without RTT growth), and removes them
	// when the RTT grows (a congested path). Size is ignored.
	Auto bool
	// Max bounds Auto. Default 64.
	Max int
	// Epoch is the longest Auto measures before deciding when fewer
	// than 300 packets went by. Default 500ms. Auto decides after at
	// least four smoothed RTTs (and 100 ms) and 300 packets, so on a
	// lossy link within a few round trips.
	Epoch time.Duration
}

// DefaultMaxConnections is the default bound of PoolConfig.Auto.
const DefaultMaxConnections = 64

// MaxPoolSize bounds PoolConfig.Size and Max.
const MaxPoolSize = 64

// striped reports whether files are sent as ranges over a pool.
func (p PoolConfig) striped() bool { return p.Auto || p.Size > 1 }

func (p PoolConfig) max() int {
	if p.Max <= 0 {
		return DefaultMaxConnections
	}
	return min(p.Max, MaxPoolSize)
}

// pool dials and runs the data-only connections of a striped session.
type pool struct {
	c       *clientConn
	addr    string
	tls     *tls.Config
	cfg     ClientConfig
	moved   atomic.Int64 // file bytes moved, for Auto's goodput
	joining atomic.Int32 // connections being dialled

	// mu guards the following fields.
	mu      sync.Mutex
	members []*xfer.Member // the pool connections (not the primary), oldest first
	events  []PoolEvent
	peak    int                  // largest size so far
	retired quic.ConnectionStats // counters of pool connections that ended
}

// PoolEvent records a change of the pool size, for logs and tests.
type PoolEvent struct {
	At      time.Time
	Size    int // connections after the change
	Reason  string
	Goodput float64 // bytes per second in the epoch that decided
	Loss    float64 // fraction of packets lost in that epoch
	RTTRise float64 // smoothed RTT over minimum RTT
}

// startPool dials the configured pool (or starts the Auto controller).
func (c *clientConn) startPool(ctx context.Context, addr string, tlsConf *tls.Config, cfg ClientConfig) {
	p := &pool{c: c, addr: addr, tls: tlsConf, cfg: cfg}
	c.pool = p
	if cfg.Pool.Auto {
		c.lanes.SetGrowable()
		c.wg.Go(p.autoscale)
		return
	}
	n := min(cfg.Pool.Size, MaxPoolSize) - 1
	p.grow(ctx, n)
}

// grow dials n more pool connections in parallel. A connection that fails
// to join is logged and skipped: the session goes on with fewer.
func (p *pool) grow(ctx context.Context, n int) int {
	var wg sync.WaitGroup
	var ok atomic.Int32
	p.joining.Add(int32(n))
	for range n {
		wg.Go(func() {
			defer p.joining.Add(-1)
			if err := p.join(ctx); err != nil {
				if p.c.lost() {
					return
				}
				p.c.log.Warn().Err(err).Msg("pool connection failed")
				return
			}
			ok.Add(1)
		})
	}
	wg.Wait()
	return int(ok.Load())
}

// join dials one pool connection and joins it to the session with the
// Welcome's token.
func (p *pool) join(ctx context.Context) error {
	c := p.c
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	stop := context.AfterFunc(c.conn.Context(), cancel)
	defer stop()
	qc, err := quicx.Dial(dctx, p.addr, p.tls, p.cfg.Quic, p.c.log)
	if err != nil {
		return fmt.Errorf("dial pool connection: %w", err)
	}
	fail := func(err error) error {
		qc.Close(quic.ApplicationErrorCode(CodeOK), "")
		return err
	}
	str, err := qc.OpenStreamSync(dctx)
	if err != nil {
		return fail(fmt.Errorf("pool connection: %w", err))
	}
	cmd := newCmdChannel(str)
	if err := cmd.send(&wire.Join{Magic: [4]byte([]byte(wire.Magic)), Version: wire.Version, Token: c.welcome.Token}); err != nil {
		return fail(fmt.Errorf("pool connection: %w", err))
	}
	dl, _ := dctx.Deadline()
	str.SetReadDeadline(dl)
	msg, err := cmd.recv()
	if err != nil {
		return fail(fmt.Errorf("pool connection: waiting for welcome: %w", err))
	}
	str.SetReadDeadline(time.Time{})
	var token []byte
	switch m := msg.(type) {
	case *wire.Welcome:
		token = m.Token
	case *wire.Reject:
		return fail(joinRefused(m, p.addr))
	default:
		return fail(fmt.Errorf("pool connection: expected welcome, got %s", msg.Type()))
	}
	m := &xfer.Member{Conn: qc, Close: func() { qc.Close(quic.ApplicationErrorCode(CodeOK), "") }}
	p.mu.Lock()
	if c.lost() {
		p.mu.Unlock()
		return fail(ErrClosed)
	}
	p.members = append(p.members, m)
	c.wg.Go(func() { c.acceptStreams(qc) })
	c.watch(qc, p.cfg)
	p.mu.Unlock()
	c.lanes.Add(m)
	// The server ends a pool connection with its session; the command
	// stream of a pool connection carries nothing after the Welcome.
	p.mu.Lock()
	p.peak = max(p.peak, 1+len(p.members))
	p.mu.Unlock()
	c.wg.Go(func() {
		<-qc.Context().Done()
		qc.Close(quic.ApplicationErrorCode(CodeOK), "")
		c.lanes.Remove(m)
		if !c.lost() && len(token) > 0 {
			// The server may not see this connection die until
			// its idle timeout: tell it, so the ranges it was
			// sending here move to the other connections now.
			c.cmd.send(&wire.Drop{Token: token})
		}
		st := qc.ConnectionStats()
		p.mu.Lock()
		addCounters(&p.retired, st)
		for i, x := range p.members {
			if x == m {
				p.members = append(p.members[:i], p.members[i+1:]...)
				break
			}
		}
		p.mu.Unlock()
	})
	return nil
}

// size is the number of live connections that take ranges, the primary
// included.
func (p *pool) size() int { return p.c.lanes.Active() }

// shrink drains the newest n pool connections.
func (p *pool) shrink(n int) {
	p.mu.Lock()
	var victims []*xfer.Member
	for i := len(p.members) - 1; i >= 0 && len(victims) < n; i-- {
		if m := p.members[i]; !p.c.lanes.Draining(m) && !m.Dead() {
			victims = append(victims, m)
		}
	}
	p.mu.Unlock()
	for _, m := range victims {
		p.c.lanes.Drain(m)
	}
}

// closeAll closes every pool connection.
func (p *pool) closeAll(code ErrorCode, msg string) {
	p.mu.Lock()
	ms := append([]*xfer.Member(nil), p.members...)
	p.mu.Unlock()
	for _, m := range ms {
		m.Conn.(*quicx.Conn).Close(quic.ApplicationErrorCode(code), msg)
	}
}

func (c *clientConn) closeMembers(code ErrorCode, msg string) {
	if c.pool != nil {
		c.pool.closeAll(code, msg)
	}
}

// counter returns the function striped transfers report moved bytes to,
// for Auto's goodput.
func (c *clientConn) counter(t *Transfer) func(int) {
	if c.pool == nil {
		return t.addBytes
	}
	return func(n int) {
		t.addBytes(n)
		c.pool.moved.Add(int64(n))
	}
}

// PoolSize returns the number of live connections of the session, the
// primary included.
func (c *clientConn) PoolSize() int {
	if c.pool == nil {
		return 1
	}
	return c.pool.size()
}

// PeakPoolSize returns the largest number of connections the session
// has had at once, the primary included.
func (c *clientConn) PeakPoolSize() int {
	if c.pool == nil {
		return 1
	}
	c.pool.mu.Lock()
	defer c.pool.mu.Unlock()
	return max(c.pool.peak, 1)
}

// addPoolStats adds the counters of every connection of the session,
// those of pool connections that have ended included, to st.
func (c *clientConn) addPoolStats(st *quic.ConnectionStats) {
	conns := []quic.ConnectionStats{c.conn.ConnectionStats()}
	if c.pool != nil {
		c.pool.mu.Lock()
		conns = append(conns, c.pool.retired)
		for _, m := range c.pool.members {
			conns = append(conns, m.Conn.ConnectionStats())
		}
		c.pool.mu.Unlock()
	}
	for _, o := range conns {
		addCounters(st, o)
	}
}

// addCounters adds o's packet and byte counters to st.
func addCounters(st *quic.ConnectionStats, o quic.ConnectionStats) {
	st.BytesSent += o.BytesSent
	st.PacketsSent += o.PacketsSent
	st.BytesReceived += o.BytesReceived
	st.PacketsReceived += o.PacketsReceived
	st.BytesLost += o.BytesLost
	st.PacketsLost += o.PacketsLost
}

// PoolEvents returns the resizes Auto has made.
func (c *clientConn) PoolEvents() []PoolEvent {
	if c.pool == nil {
		return nil
	}
	c.pool.mu.Lock()
	defer c.pool.mu.Unlock()
	return append([]PoolEvent(nil), c.pool.events...)
}

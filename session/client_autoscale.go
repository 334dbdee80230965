package session

import (
	"slices"
	"time"
)

// statsSample sums the QUIC statistics of every live connection.
type statsSample struct {
	sent, lost uint64
	// delivered counts the bytes that got through, both ways: sent and
	// not lost, plus received. Unlike the file bytes written to streams
	// (which quic-go accepts in bursts), it is exact to the packet.
	delivered uint64
	rttRise   float64 // smoothed RTT / min RTT, the median over the connections
	srtt      time.Duration
}

func (p *pool) sample() statsSample {
	var s statsSample
	var rises []float64
	for _, m := range p.c.lanes.Live() {
		st := m.Conn.ConnectionStats()
		s.sent += st.PacketsSent
		s.lost += st.PacketsLost
		s.delivered += st.BytesSent - min(st.BytesLost, st.BytesSent) + st.BytesReceived
		if st.MinRTT > 0 {
			rises = append(rises, float64(st.SmoothedRTT)/float64(st.MinRTT))
		}
		s.srtt = max(s.srtt, st.SmoothedRTT)
	}
	s.rttRise = median(rises)
	return s
}

// median of xs (0 when empty). A queue at the shared bottleneck delays
// every connection of the pool; one connection's RTT spike (a loss
// recovery, a descheduled thread on a busy machine) is not a queue.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	return xs[len(xs)/2]
}

// Thresholds of the Auto controller.
const (
	// autoLossFloor is the loss rate below which a link counts as clean:
	// more connections would not help.
	autoLossFloor = 0.002
	// autoMinLost is the fewest packets a window must have lost to say
	// the link is lossy: one stray loss is not a loss rate.
	autoMinLost = 2
	// autoRandomRTT is the RTT rise (smoothed over minimum) below which
	// loss is taken as random rather than a queue overflowing.
	autoRandomRTT = 1.3
	// autoCongestedRTT is the RTT rise at which the path counts as
	// congested: the pool shrinks.
	autoCongestedRTT = 1.8
	// autoGain is the goodput growth a step must bring for the
	// controller to keep growing.
	autoGain = 1.15
	// autoGrowth is the factor the pool grows by in one step: 1, 8, 64
	// reaches the largest pool in two steps. At 1% loss and 40 ms one
	// NewReno connection carries about 3 Mbit/s, so a 150 Mbit/s link
	// wants about 50 of them; growing by 4 every half second (the
	// controller before issue 17) took three seconds to get there,
	// longer than a 48 MiB file takes.
	autoGrowth = 8
	// autoMinPackets is how many packets a measurement window wants
	// before it decides (unless it has lasted autoMaxWindow): at 1% loss
	// 300 packets lose 3 on average, and 2 or more with 80% chance.
	autoMinPackets = 300
	// autoMinWindow and autoMaxWindow bound a measurement window, which
	// also lasts at least four smoothed RTTs.
	autoMinWindow = 100 * time.Millisecond
	autoMaxWindow = 500 * time.Millisecond
)

// window is one measurement of the Auto controller: the counters at its
// start and the largest RTT rise seen since.
type window struct {
	start time.Time
	from  statsSample
	moved int64
	peak  float64
}

func (p *pool) newWindow() window {
	return window{start: time.Now(), from: p.sample(), moved: p.moved.Load()}
}

// autoscale runs PoolConfig.Auto. It measures the pool in windows of at
// least four smoothed RTTs (and autoMinWindow), long enough to hold
// autoMinPackets packets or autoMaxWindow (PoolConfig.Epoch when set):
// the goodput, the loss and the largest RTT rise, sampled every 25 ms.
// After each it grows the pool by autoGrowth when the loss looks random
// (lost packets without RTT growth), keeps it, or cuts it by an eighth
// when the RTT has risen in two windows in a row. Growth stops for good once a step brings less than
// autoGain more goodput, or the path showed congestion. It only acts
// while file bytes are moving. The first window starts with the
// transfer: loss and RTT are known after its first round trips, so on a
// lossy link the pool is at 8 connections a few RTTs into the file and
// at 64 a few more later.
func (p *pool) autoscale() {
	c := p.c
	maxWindow := p.cfg.Pool.Epoch
	if maxWindow <= 0 {
		maxWindow = autoMaxWindow
	}
	maxSize := p.cfg.Pool.max()
	var (
		w        = p.newWindow()
		lastGood float64 // goodput at the size before the last growth
		plateau  bool    // growing stopped helping
		// wasCongested says the last window saw the RTT rise past
		// autoCongestedRTT: the pool shrinks after two in a row.
		wasCongested bool
	)
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-c.closed:
			return
		case <-tick.C:
		}
		var rises []float64
		var srtt time.Duration
		for _, m := range c.lanes.Live() {
			st := m.Conn.ConnectionStats()
			if st.MinRTT > 0 {
				rises = append(rises, float64(st.SmoothedRTT)/float64(st.MinRTT))
			}
			srtt = max(srtt, st.SmoothedRTT)
		}
		// The RTT rise is the largest seen during the window: a queue
		// that fills and then overflows (NewReno's sawtooth on a
		// congested path) shows only for part of it, while random loss
		// leaves the RTT flat throughout. The median over connections:
		// one connection's spike is not a queue.
		w.peak = max(w.peak, median(rises))
		moved := p.moved.Load()
		if moved == w.moved {
			w = p.newWindow() // idle: nothing to learn
			continue
		}
		elapsed := time.Since(w.start)
		now := p.sample()
		var sent, lost uint64
		if now.sent >= w.from.sent && now.lost >= w.from.lost {
			sent, lost = now.sent-w.from.sent, now.lost-w.from.lost
		}
		if elapsed < max(autoMinWindow, 4*srtt) || (sent < autoMinPackets && elapsed < max(maxWindow, 4*srtt)) {
			continue
		}
		var good, loss float64
		if now.delivered > w.from.delivered {
			// Connections that die or join between samples can make
			// the sum step back.
			good = float64(now.delivered-w.from.delivered) / elapsed.Seconds()
		}
		if sent > 0 {
			loss = float64(lost) / float64(sent)
		}
		rise := max(now.rttRise, w.peak)
		w = p.newWindow()
		if good <= 0 {
			continue
		}
		size := p.size() + int(p.joining.Load())
		record := func(newSize int, reason string) {
			p.mu.Lock()
			p.events = append(p.events, PoolEvent{At: time.Now(), Size: newSize, Reason: reason, Goodput: good, Loss: loss, RTTRise: rise})
			p.mu.Unlock()
			c.log.Info().Int("from", size).Int("to", newSize).Str("reason", reason).
				Float64("goodput_mbit", good*8/1e6).Float64("loss", loss).Float64("rtt_rise", rise).Msg("pool resized")
		}
		// settle starts the next window from the new size: once the
		// connections dialled have joined (or four RTTs have passed:
		// a join lost to the link's loss comes later, and the window
		// measures what is there), and two RTTs more, since new
		// connections start with a burst (their initial window is
		// above the loss-bound one) that would flatter it.
		settle := func(target int) {
			if target > size {
				deadline := time.After(max(200*time.Millisecond, 4*srtt))
			wait:
				for p.size() < target {
					select {
					case <-c.closed:
						return
					case <-deadline:
						break wait
					case <-tick.C:
					}
				}
				select {
				case <-c.closed:
				case <-time.After(max(50*time.Millisecond, 2*srtt)):
				}
			}
			w = p.newWindow()
		}
		congested := rise >= autoCongestedRTT
		congestedTwice := congested && wasCongested
		wasCongested = congested
		switch {
		case congested && !congestedTwice && size > 1:
			// One window with the RTT up may be the machine, not
			// the path (a descheduled process delays every
			// connection at once): look again.
		case congestedTwice && size > 1:
			// A queue is building: the path is congested, and
			// more connections would only take more of it.
			// The event goes first, so whoever sees the pool
			// smaller finds the reason in PoolEvents.
			n := max(1, size*7/8)
			record(n, "rtt rising: congested path")
			p.shrink(size - n)
			plateau = true
			settle(n)
		case plateau, size >= maxSize:
		case loss < autoLossFloor || lost < autoMinLost:
			// Clean link: one connection is enough.
		case rise > autoRandomRTT:
		case size > 1 && good < lastGood*autoGain:
			plateau = true
			record(size, "no gain from the last growth")
			settle(size)
		default:
			// New connections start at the loss-bound rate at once
			// (their initial window is above it), so the next
			// window measures the new size: grow while that pays.
			// The new connections are dialled in parallel, and the
			// controller goes on while they join.
			lastGood = good
			n := min(size*autoGrowth, maxSize)
			record(n, "random loss without rtt growth")
			c.wg.Go(func() { p.grow(c.conn.Context(), n-size) })
			settle(n)
		}
	}
}

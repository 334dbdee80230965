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

// peakRise samples the pool's RTT rise (the median over its connections)
// every 25 ms for d and returns the largest; false if the session ended
// meanwhile.
func (p *pool) peakRise(d time.Duration) (float64, bool) {
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	end := time.NewTimer(d)
	defer end.Stop()
	var peak float64
	for {
		select {
		case <-p.c.closed:
			return 0, false
		case <-end.C:
			return peak, true
		case <-tick.C:
			var rises []float64
			for _, m := range p.c.lanes.Live() {
				st := m.Conn.ConnectionStats()
				if st.MinRTT > 0 {
					rises = append(rises, float64(st.SmoothedRTT)/float64(st.MinRTT))
				}
			}
			peak = max(peak, median(rises))
		}
	}
}

// Thresholds of the Auto controller.
const (
	// autoLossFloor is the loss rate below which a link counts as clean:
	// more connections would not help.
	autoLossFloor = 0.002
	// autoRandomRTT is the RTT rise (smoothed over minimum) below which
	// loss is taken as random rather than a queue overflowing.
	autoRandomRTT = 1.3
	// autoCongestedRTT is the RTT rise at which the path counts as
	// congested: the pool shrinks.
	autoCongestedRTT = 1.8
	// autoGain is the goodput growth a doubling must bring for the
	// controller to keep growing.
	autoGain = 1.15
	// autoGrowth is the factor the pool grows by in one step.
	autoGrowth = 4
)

// autoscale runs PoolConfig.Auto: every epoch it measures the goodput,
// loss and RTT rise of the pool and decides to grow it (by autoGrowth),
// keep it, or cut it by an eighth. Growth stops for good once a step brings less
// than autoGain more goodput. It only acts while file bytes are moving.
func (p *pool) autoscale() {
	c := p.c
	epoch := p.cfg.Pool.Epoch
	if epoch <= 0 {
		epoch = 500 * time.Millisecond
	}
	maxSize := p.cfg.Pool.max()
	var (
		prev      = p.sample()
		prevMoved = p.moved.Load()
		lastGood  float64 // goodput at the size before the last growth
		plateau   bool    // growing stopped helping
		// warmup counts epochs to skip: the first two of a transfer (slow
		// start overshoots, then collapses to the loss-bound rate) and
		// one after every change.
		warmup = 2
	)
	for {
		wait := max(epoch, 4*prev.srtt)
		// The RTT rise is the largest seen during the epoch, sampled
		// every 25 ms: a queue that fills and then overflows (NewReno's
		// sawtooth on a congested path) shows only for part of the
		// epoch, while random loss leaves the RTT flat throughout.
		peak, ok := p.peakRise(wait)
		if !ok {
			return
		}
		now := p.sample()
		now.rttRise = max(now.rttRise, peak)
		moved := p.moved.Load()
		var good float64
		if moved > prevMoved && now.delivered > prev.delivered {
			// Only while file bytes move; connections that die or
			// join between samples can make the sum step back.
			good = float64(now.delivered-prev.delivered) / wait.Seconds()
		}
		var loss float64
		if d := now.sent - prev.sent; d > 0 && now.sent >= prev.sent && now.lost >= prev.lost {
			loss = float64(now.lost-prev.lost) / float64(d)
		}
		prev, prevMoved = now, moved
		if good <= 0 {
			continue // idle: nothing to learn
		}
		if warmup > 0 {
			warmup--
			continue
		}
		size := p.size()
		record := func(newSize int, reason string) {
			p.mu.Lock()
			p.events = append(p.events, PoolEvent{At: time.Now(), Size: newSize, Reason: reason, Goodput: good, Loss: loss, RTTRise: now.rttRise})
			p.mu.Unlock()
			p.c.log.Info().Int("from", size).Int("to", newSize).Str("reason", reason).
				Float64("goodput_mbit", good*8/1e6).Float64("loss", loss).Float64("rtt_rise", now.rttRise).Msg("pool resized")
		}
		// settle starts the next measurement from the new size.
		settle := func(newSize, epochs int) {
			// New connections start with a burst (their initial
			// window is above the loss-bound one) that would flatter
			// the next epoch: let four RTTs pass, then measure the
			// new size from there.
			if newSize > size {
				select {
				case <-c.closed:
				case <-time.After(max(200*time.Millisecond, 4*now.srtt)):
				}
			}
			prev, prevMoved = p.sample(), p.moved.Load()
			warmup = epochs
		}
		switch {
		case now.rttRise >= autoCongestedRTT && size > 1:
			// A queue is building: the path is congested, and
			// more connections would only take more of it.
			// The event goes first, so whoever sees the pool
			// smaller finds the reason in PoolEvents.
			n := max(1, size*7/8)
			record(n, "rtt rising: congested path")
			p.shrink(size - n)
			plateau = true
			settle(n, 1)
		case plateau, size >= maxSize:
		case loss < autoLossFloor:
			// Clean link: one connection is enough.
		case now.rttRise > autoRandomRTT:
		case size > 1 && good < lastGood*autoGain:
			plateau = true
			record(size, "no gain from the last growth")
			settle(size, 0)
		default:
			// New connections start at the loss-bound rate at once
			// (their initial window is above it), so the next epoch
			// measures the new size: quadruple while that pays.
			lastGood = good
			n := min(size*autoGrowth, maxSize)
			added := p.grow(c.conn.Context(), n-size)
			record(size+added, "random loss without rtt growth")
			settle(size+added, 0)
		}
	}
}

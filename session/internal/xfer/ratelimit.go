package xfer

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
)

// RateLimiter caps the rate of file bytes: a token bucket that refills at
// a fixed number of bytes per second and holds at most a burst of 64 KiB
// or 50 ms worth, whichever is larger. Every stream given the same limiter
// shares its rate (Options.RateLimit). It is safe for concurrent use; a nil
// *RateLimiter does not limit.
//
// Sent bytes are metered as QUIC packs them into packets
// (quic.SendStream.WriteWithLimit), so they leave at the limited rate
// rather than in bursts of a whole write. Received bytes are metered as
// they are read: the receiver's flow-control credit then grows only at the
// limited rate, which bounds the sender.
type RateLimiter struct {
	rate  float64 // bytes per second
	burst float64 // bucket size in bytes
	now   func() time.Time

	// mu guards the following fields.
	mu     sync.Mutex
	tokens float64 // may be negative: debt from pace
	last   time.Time
}

// Bucket size bounds: the larger of minBurst and burstTime worth of bytes.
const (
	minBurst  = 64 << 10
	burstTime = 50 * time.Millisecond
)

// minTake is the smallest grant worth a STREAM frame: below it the
// limiter waits for more tokens rather than send tiny packets.
const minTake = 1200

// NewRateLimiter returns a limiter of bytesPerSecond, or nil (no limit)
// when bytesPerSecond is not positive.
func NewRateLimiter(bytesPerSecond int64) *RateLimiter {
	if bytesPerSecond <= 0 {
		return nil
	}
	return newRateLimiter(bytesPerSecond, time.Now)
}

func newRateLimiter(bytesPerSecond int64, now func() time.Time) *RateLimiter {
	rate := float64(bytesPerSecond)
	burst := max(minBurst, rate*burstTime.Seconds())
	return &RateLimiter{rate: rate, burst: burst, now: now, tokens: burst, last: now()}
}

// Rate is the limit in bytes per second (0 for a nil limiter).
func (l *RateLimiter) Rate() int64 {
	if l == nil {
		return 0
	}
	return int64(l.rate)
}

// refill adds the tokens earned since the last call; l.mu must be held.
func (l *RateLimiter) refill() {
	now := l.now()
	if d := now.Sub(l.last); d > 0 {
		l.tokens = min(l.burst, l.tokens+d.Seconds()*l.rate)
	}
	l.last = now
}

// take grants up to maxBytes without blocking: all of them if the bucket
// holds enough, what it holds if that is at least a packet's worth, and 0
// otherwise. It is the limiter of quic.SendStream.WriteWithLimit.
func (l *RateLimiter) take(maxBytes int) int {
	if maxBytes <= 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refill()
	n := min(float64(maxBytes), l.tokens)
	if n < float64(min(maxBytes, minTake)) {
		return 0
	}
	l.tokens -= float64(int(n))
	return int(n)
}

// delay is how long until the bucket holds n tokens (at most a burst's
// worth); 0 if it does now. It takes nothing.
func (l *RateLimiter) delay(n int) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refill()
	need := min(float64(n), l.burst) - l.tokens
	if need <= 0 {
		return 0
	}
	return time.Duration(need / l.rate * float64(time.Second))
}

// consume takes n tokens, going into debt if the bucket holds fewer, and
// returns how long until the debt is paid.
func (l *RateLimiter) consume(n int) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refill()
	l.tokens -= float64(n)
	if l.tokens >= 0 {
		return 0
	}
	return time.Duration(-l.tokens / l.rate * float64(time.Second))
}

// chunk is the largest read worth pacing at once: a quarter of the bucket.
func (l *RateLimiter) chunk() int { return max(minTake, int(l.burst/4)) }

// wait blocks until the bucket holds min(n, chunk) tokens or ctx is done.
func (l *RateLimiter) wait(ctx context.Context, n int) error {
	n = min(n, l.chunk())
	for {
		d := l.delay(n)
		if d <= 0 {
			return nil
		}
		if err := pause(ctx, d); err != nil {
			return err
		}
	}
}

// pace takes n bytes' worth of tokens and blocks until they are paid for.
// Nil limiters return at once.
func (l *RateLimiter) pace(ctx context.Context, n int) error {
	if l == nil {
		return nil
	}
	return pause(ctx, l.consume(n))
}

// write writes all of p to w within the limit. On a QUIC send stream the
// tokens are taken as the stream's data is packed into packets; on any
// other writer each write is paced before it is made. A nil limiter just
// writes.
func (l *RateLimiter) write(ctx context.Context, w io.Writer, p []byte) (int, error) {
	if l == nil {
		return w.Write(p)
	}
	ss, ok := w.(*quic.SendStream)
	if !ok {
		if err := l.pace(ctx, len(p)); err != nil {
			return 0, err
		}
		return w.Write(p)
	}
	written := 0
	for len(p) > 0 {
		n, err := ss.WriteWithLimit(p, l.take)
		written += n
		p = p[n:]
		switch {
		case errors.Is(err, quic.ErrWriteLimitReached):
			if err := l.wait(ctx, len(p)); err != nil {
				return written, err
			}
		case err != nil:
			return written, err
		}
	}
	return written, nil
}

// pause waits for d or until ctx is done.
func pause(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		if ctx.Err() != nil {
			return CtxError(ctx)
		}
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return CtxError(ctx)
	}
}

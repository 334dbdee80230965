package session

import (
	"context"
	"errors"
	"sync"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// clientFeatures are the optional features (wire.Features) this client
// can use.
const clientFeatures = wire.FeatureListPacked

// features is what a connection learned of its server's optional
// features: asked once per connection, right after the welcome
// (askFeatures), and answered when a call first needs one.
type features struct {
	// mu guards the following fields; held while the question is out,
	// so concurrent callers wait for the one answer.
	mu    sync.Mutex
	asked bool
	bits  wire.FeatureBits
	// pending is the question sent by askFeatures, not yet answered.
	pending *fencedQuestion
}

// askFeatures sends the Features question without waiting for its
// answer, so that the first listing of a push or pull finds it answered
// instead of paying a round trip of its own before it (a tree push's
// destination Stat and the question now share one). A failure to send
// is the session's, met again by the next request.
func (c *clientConn) askFeatures() {
	c.feats.mu.Lock()
	defer c.feats.mu.Unlock()
	if c.feats.asked || c.feats.pending != nil {
		return
	}
	if q, err := askFenced(c, featuresQuestion); err == nil {
		c.feats.pending = q
	}
}

func featuresQuestion(id uint64) wire.Message { return &wire.Features{ID: id, Bits: clientFeatures} }

// has reports whether the server has feature f, waiting for the answer
// to askFeatures (or asking, one round trip per connection, fenced as
// Checksum is: a server that predates Features skips the request and has
// none). err is a failure of the session itself or ctx's end; a refused
// question is no feature.
func (c *clientConn) has(ctx context.Context, f wire.FeatureBits) (bool, error) {
	c.feats.mu.Lock()
	defer c.feats.mu.Unlock()
	if !c.feats.asked {
		q := c.feats.pending
		c.feats.pending = nil
		var err error
		if q == nil {
			q, err = askFenced(c, featuresQuestion)
		}
		var m *wire.FeaturesResult
		if err == nil {
			m, err = answerFenced[*wire.FeaturesResult](ctx, c, q, ".")
		}
		switch {
		case err == nil:
			c.feats.bits = m.Bits & clientFeatures
		case errors.Is(err, ErrUnsupported):
		default:
			var e *Error
			if !errors.As(err, &e) {
				return false, err
			}
		}
		c.feats.asked = true
	}
	return c.feats.bits&f != 0, nil
}

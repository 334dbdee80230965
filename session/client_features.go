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
// features: asked once, by the first call that needs one.
type features struct {
	// mu guards the following fields; held while the question is out,
	// so concurrent callers wait for the one answer.
	mu    sync.Mutex
	asked bool
	bits  wire.FeatureBits
}

// has reports whether the server has feature f, asking it the first time
// (one round trip per connection, fenced as Checksum is: a server that
// predates Features skips the request and has none). err is a failure of
// the session itself or ctx's end; a refused question is no feature.
func (c *clientConn) has(ctx context.Context, f wire.FeatureBits) (bool, error) {
	c.feats.mu.Lock()
	defer c.feats.mu.Unlock()
	if !c.feats.asked {
		m, err := fenced[*wire.FeaturesResult](ctx, c, ".", func(id uint64) wire.Message {
			return &wire.Features{ID: id, Bits: clientFeatures}
		})
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

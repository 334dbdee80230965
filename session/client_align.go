package session

import (
	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// noteAlign keeps a PartAlign on the waiter of the push it names, for
// runPut to read once the Accept that follows it has arrived (the
// command channel keeps their order); false for any other message.
func (c *clientConn) noteAlign(msg wire.Message) bool {
	m, ok := msg.(*wire.PartAlign)
	if !ok {
		return false
	}
	c.mu.Lock()
	w := c.waiters[m.ID]
	c.mu.Unlock()
	if w != nil {
		w.align.Store(m)
	}
	return true
}

// alignOf is how the ranges of the push waiting on w are cut: the part
// size and window the server asked for (PROTOCOL.md, "Part-aligned
// pushes"), or 0, 0. A part size below S3's minimum part (wire.MinPartSize)
// would make a file of millions of ranges: a protocol violation.
func alignOf(w *waiter, size uint64, p string) (uint64, int, error) {
	m := w.align.Load()
	if m == nil || size == 0 {
		return 0, 0, nil
	}
	if m.PartSize < wire.MinPartSize {
		return 0, 0, xfer.Errorf(CodeProtocolViolation, p, "the server asked for ranges cut at %d bytes, below %d", m.PartSize, wire.MinPartSize)
	}
	return m.PartSize, int(min(m.Window, 1024)), nil
}

package session

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/rs/zerolog"

	"github.com/qxfer/qxfer/quicx"
	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// clientConn is one connection of a Session: one QUIC connection, one command
// stream, a fresh stream per file. Its methods are safe for concurrent use.
type clientConn struct {
	conn    *quicx.Conn
	cmd     *cmdChannel
	log     zerolog.Logger
	welcome *wire.Welcome
	table   *Table
	nextID  atomic.Uint64 // wire request ids; only request allocates them
	sendMu  sync.Mutex    // makes id allocation and sending one step, so ids reach the server in order
	closed  chan struct{} // closed when the command channel fails or Close is called
	wg      sync.WaitGroup
	lanes   *xfer.Lanes // the connections that carry range streams
	pool    *pool       // nil unless ClientConfig.Pool stripes
	space   *xfer.Space // the local disk, for pulls: a file that cannot fit is refused before its Get
	// noEager is set by the first refusal of an eager push: the
	// connection's later pushes wait for their Accept (sendsEager).
	noEager atomic.Bool
	local   localDirs // the directories pulls write into, held open
	feats   features  // the server's optional features, asked once

	// mu guards the following fields.
	mu       sync.Mutex
	waiters  map[uint64]*waiter
	closeErr error
}

// Transfers is the client's table of live transfers.
func (c *clientConn) Transfers() *Table { return c.table }

// Stats returns the connection's QUIC statistics.
func (c *clientConn) Stats() quic.ConnectionStats { return c.conn.ConnectionStats() }

// Close ends the session with no error and waits for its goroutines.
func (c *clientConn) Close() error { return c.CloseWithCode(CodeOK, "") }

// CloseWithCode ends the session with code (for example CodeInterrupted)
// and waits for its goroutines.
func (c *clientConn) CloseWithCode(code ErrorCode, msg string) error {
	lost := c.lost()
	c.fail(ErrClosed)
	if code == CodeOK && !lost {
		c.endCommands()
	}
	c.closeMembers(code, msg)
	err := c.conn.Close(quic.ApplicationErrorCode(code), msg)
	c.wg.Wait()
	return err
}

// closeLinger bounds how long a clean Close waits for the server to read
// the end of the command stream.
const closeLinger = time.Second

// endCommands ends the command stream of a live session and waits, up
// to closeLinger, for the server to close the connection, which it does
// once it has read every frame before the end. Closing the connection at once could lose
// the last frames, such as the Done of a pull: quic-go sends
// CONNECTION_CLOSE without flushing queued stream data, and a peer
// receiving it drops what it has not read yet. The server would count
// the pull as cut off.
func (c *clientConn) endCommands() {
	if c.cmd == nil {
		return
	}
	if c.cmd.closeWrite() != nil {
		return
	}
	t := time.NewTimer(closeLinger)
	defer t.Stop()
	select {
	case <-c.conn.Context().Done():
	case <-t.C:
	}
}

// Done is closed when the session has ended.
func (c *clientConn) Done() <-chan struct{} { return c.closed }

// Err says why the session ended, once Done is closed.
func (c *clientConn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeErr
}

func (c *clientConn) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeErr == nil {
		c.closeErr = err
		close(c.closed)
	}
}

package session

import (
	"bufio"
	"sync"

	"github.com/quic-go/quic-go"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// cmdChannel frames messages on the command stream. Sends may come from any
// goroutine; recv is called by exactly one reader goroutine.
type cmdChannel struct {
	str *quic.Stream
	r   *bufio.Reader

	// wmu guards the following fields.
	wmu  sync.Mutex
	wbuf []byte
}

func newCmdChannel(str *quic.Stream) *cmdChannel {
	return &cmdChannel{str: str, r: bufio.NewReaderSize(str, 32<<10)}
}

// send writes one frame.
func (c *cmdChannel) send(m wire.Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = wire.AppendFrame(c.wbuf[:0], m)
	_, err := c.str.Write(c.wbuf)
	return err
}

// closeWrite ends the stream's sending side after the frames already
// sent; later sends fail.
func (c *cmdChannel) closeWrite() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.str.Close()
}

// recv reads the next frame. Unknown frame types come back as
// *wire.Unknown and are to be skipped by the caller.
func (c *cmdChannel) recv() (wire.Message, error) {
	return wire.ReadFrame(c.r)
}

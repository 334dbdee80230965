package quicx

import (
	"net"

	"github.com/rs/zerolog"
)

// WantBufferBytes is the UDP socket buffer size qxfer asks for in each
// direction. quic-go wants about 7 MB to sustain high rates; Linux caps an
// unprivileged request at net.core.rmem_max / wmem_max.
const WantBufferBytes = 7 << 20

// BufferSizes is what the kernel granted a socket. A zero means unknown
// (the platform has no way to ask).
type BufferSizes struct {
	Read, Write int
}

// OK reports whether both buffers are at least WantBufferBytes (or unknown).
func (b BufferSizes) OK() bool {
	return (b.Read == 0 || b.Read >= WantBufferBytes) && (b.Write == 0 || b.Write >= WantBufferBytes)
}

// SysctlHint returns the commands that raise the kernel limits enough.
func SysctlHint() []string {
	return []string{
		"sysctl -w net.core.rmem_max=7500000",
		"sysctl -w net.core.wmem_max=7500000",
	}
}

// TuneBuffers asks for WantBufferBytes in both directions (privileged
// processes may exceed the sysctl caps) and logs one warning with the sysctl
// lines to run when the kernel grants less.
func TuneBuffers(c *net.UDPConn, log zerolog.Logger) BufferSizes {
	_ = c.SetReadBuffer(WantBufferBytes)
	_ = c.SetWriteBuffer(WantBufferBytes)
	forceBuffers(c, WantBufferBytes)
	got := inspectBuffers(c)
	if !got.OK() {
		log.Warn().Int("read_buffer", got.Read).Int("write_buffer", got.Write).
			Int("wanted", WantBufferBytes).
			Strs("hint", SysctlHint()).
			Msg("udp socket buffers are small; throughput on fast or long links will suffer")
	}
	return got
}

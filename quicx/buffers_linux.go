//go:build linux

package quicx

import (
	"net"

	"golang.org/x/sys/unix"
)

// inspectBuffers reads SO_RCVBUF and SO_SNDBUF. Linux reports double the
// usable size (bookkeeping overhead), so the values are halved.
func inspectBuffers(c *net.UDPConn) BufferSizes {
	var b BufferSizes
	rc, err := c.SyscallConn()
	if err != nil {
		return b
	}
	_ = rc.Control(func(fd uintptr) {
		r, err1 := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
		w, err2 := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
		if err1 == nil {
			b.Read = r / 2
		}
		if err2 == nil {
			b.Write = w / 2
		}
	})
	return b
}

// forceBuffers uses SO_RCVBUFFORCE / SO_SNDBUFFORCE, which succeed for root
// (CAP_NET_ADMIN) beyond the sysctl caps and fail harmlessly otherwise.
func forceBuffers(c *net.UDPConn, size int) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size)
		_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, size)
	})
}

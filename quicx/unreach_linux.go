//go:build linux

package quicx

import (
	"net"

	"golang.org/x/sys/unix"
)

// setRecvErr turns IP_RECVERR and IPV6_RECVERR on or off (ip(7)): with
// them on, an ICMP error for a datagram of this unconnected socket makes
// the next send or receive fail with its errno (ECONNREFUSED for port
// unreachable), which quic-go then returns from the dial. Errors setting
// them are ignored: the dial then only runs into its timeout.
func setRecvErr(c *net.UDPConn, on bool) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	v := 0
	if on {
		v = 1
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_RECVERR, v)
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVERR, v)
	})
}

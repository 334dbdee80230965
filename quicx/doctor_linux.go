//go:build linux

package quicx

import (
	"errors"
	"net"

	"golang.org/x/sys/unix"
)

// probeGSO sets UDP_SEGMENT on a test socket.
func probeGSO() (Support, error) {
	return probeOption("udp", func(fd int) error {
		return unix.SetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_SEGMENT, 1200)
	})
}

// probeECN sets IP_RECVTOS on an IPv4 test socket (quic-go also sets
// IPV6_RECVTCLASS on dual-stack sockets).
func probeECN() (Support, error) {
	return probeOption("udp4", func(fd int) error {
		return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_RECVTOS, 1)
	})
}

// probeOption runs set on a fresh socket of network: success is
// Supported, ENOPROTOOPT or EINVAL Unsupported.
func probeOption(network string, set func(fd int) error) (Support, error) {
	c, err := net.ListenPacket(network, "")
	if err != nil {
		return SupportUnknown, err
	}
	defer c.Close()
	rc, err := c.(*net.UDPConn).SyscallConn()
	if err != nil {
		return SupportUnknown, err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = set(int(fd)) }); err != nil {
		return SupportUnknown, err
	}
	switch {
	case serr == nil:
		return Supported, nil
	case errors.Is(serr, unix.ENOPROTOOPT), errors.Is(serr, unix.EINVAL), errors.Is(serr, unix.EOPNOTSUPP):
		return Unsupported, nil
	}
	return SupportUnknown, serr
}

// pathMTU connects a UDP socket to ra (which sends nothing), forbids
// fragmentation so the kernel reports the path MTU, and reads IP_MTU.
func pathMTU(ra *net.UDPAddr, ipv6 bool) (int, error) {
	network := "udp4"
	if ipv6 {
		network = "udp6"
	}
	c, err := net.DialUDP(network, nil, ra)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var mtu int
	var serr error
	err = rc.Control(func(fd uintptr) {
		if ipv6 {
			if serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_DO); serr == nil {
				mtu, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_MTU)
			}
			return
		}
		if serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO); serr == nil {
			mtu, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU)
		}
	})
	if err != nil {
		return 0, err
	}
	return mtu, serr
}

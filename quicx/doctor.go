package quicx

import (
	"errors"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/quic-go/quic-go"
)

// This file holds the probes behind "qxfer doctor": what the kernel allows
// for UDP sockets and what it can offer quic-go. Each probe uses a fresh
// socket that it closes before returning. The kernel-specific parts are in
// doctor_linux.go; elsewhere they report [SupportUnknown] or
// [errors.ErrUnsupported].

// Support says whether the kernel offers a socket feature.
type Support uint8

const (
	// SupportUnknown means the feature was not probed (another OS).
	SupportUnknown Support = iota
	// Supported means a test socket accepted the option.
	Supported
	// Unsupported means a test socket refused the option.
	Unsupported
	// Disabled means the kernel supports it but an environment variable
	// turns it off in quic-go.
	Disabled
)

func (s Support) String() string {
	switch s {
	case Supported:
		return "supported"
	case Unsupported:
		return "unsupported"
	case Disabled:
		return "disabled"
	}
	return "unknown"
}

// BufferLimits is what the kernel allows for UDP socket buffers.
type BufferLimits struct {
	// Granted is what a fresh socket got when it asked for WantBufferBytes
	// in each direction, exactly as [TuneBuffers] asks (root may exceed the
	// sysctl caps). Zero fields mean unknown.
	Granted BufferSizes
	// ReadMax and WriteMax are net.core.rmem_max and net.core.wmem_max,
	// the caps for unprivileged processes; zero means unknown.
	ReadMax, WriteMax int
}

// CapsOK reports whether the sysctl caps (where known) let every user get
// WantBufferBytes.
func (b BufferLimits) CapsOK() bool {
	return (b.ReadMax == 0 || b.ReadMax >= WantBufferBytes) && (b.WriteMax == 0 || b.WriteMax >= WantBufferBytes)
}

// CheckBuffers opens a test socket, asks for WantBufferBytes as TuneBuffers
// does, and reports what the kernel granted and its caps.
func CheckBuffers() (BufferLimits, error) {
	udp, err := net.ListenUDP("udp", nil)
	if err != nil {
		return BufferLimits{}, err
	}
	defer udp.Close()
	_ = udp.SetReadBuffer(WantBufferBytes)
	_ = udp.SetWriteBuffer(WantBufferBytes)
	forceBuffers(udp, WantBufferBytes)
	b := BufferLimits{Granted: inspectBuffers(udp)}
	b.ReadMax = readSysctlInt("net/core/rmem_max")
	b.WriteMax = readSysctlInt("net/core/wmem_max")
	return b, nil
}

// readSysctlInt reads /proc/sys/NAME; 0 if it cannot (another OS).
func readSysctlInt(name string) int {
	b, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// SysctlConfFile is where SysctlConf's lines go to survive a reboot.
const SysctlConfFile = "/etc/sysctl.d/90-qxfer.conf"

// SysctlConf returns the lines of a sysctl.d file that sets what
// [SysctlHint] sets.
func SysctlConf() []string {
	var lines []string
	for _, h := range SysctlHint() {
		lines = append(lines, strings.TrimPrefix(h, "sysctl -w "))
	}
	return lines
}

// ProbeGSO reports whether the kernel supports generic segmentation offload
// for UDP (UDP_SEGMENT), which lets quic-go send many packets per system
// call. QUIC_GO_DISABLE_GSO=true gives [Disabled].
func ProbeGSO() (Support, error) {
	s, err := probeGSO()
	if s == Supported && envTrue("QUIC_GO_DISABLE_GSO") {
		s = Disabled
	}
	return s, err
}

// ProbeECN reports whether the kernel lets quic-go read the ECN bits of
// received packets (IP_RECVTOS, IPV6_RECVTCLASS), which its congestion
// control uses. QUIC_GO_DISABLE_ECN=true gives [Disabled].
func ProbeECN() (Support, error) {
	s, err := probeECN()
	if s == Supported && envTrue("QUIC_GO_DISABLE_ECN") {
		s = Disabled
	}
	return s, err
}

func envTrue(name string) bool {
	v, err := strconv.ParseBool(os.Getenv(name))
	return err == nil && v
}

// MinPathMTU is the smallest IP MTU QUIC works over: a 1200-byte UDP
// payload plus the UDP and IP headers.
func MinPathMTU(ipv6 bool) int {
	if ipv6 {
		return 1200 + 8 + 40
	}
	return 1200 + 8 + 20
}

// PathMTU returns the IP MTU of the route to addr ("host:port") as the
// kernel knows it: the discovered path MTU if it has one, else the MTU of
// the outgoing interface. It sends nothing. It returns
// [errors.ErrUnsupported] where the kernel cannot be asked.
func PathMTU(addr string) (mtu int, ipv6 bool, err error) {
	ra, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return 0, false, err
	}
	ipv6 = ra.IP.To4() == nil
	mtu, err = pathMTU(ra, ipv6)
	return mtu, ipv6, err
}

// IsALPNRefused reports whether err is the peer aborting the handshake
// because it speaks none of our application protocols (another qxfer
// protocol version, or not qxfer at all).
func IsALPNRefused(err error) bool {
	var te *quic.TransportError
	return errors.As(err, &te) && te.Remote && te.ErrorCode == quic.TransportErrorCode(0x100+alertNoApplicationProtocol)
}

// alertNoApplicationProtocol is the TLS alert for an ALPN mismatch.
const alertNoApplicationProtocol = 120

//go:build !linux

package quicx

import "net"

// setRecvErr does nothing: only Linux reports ICMP errors this way (see
// NoListenerError).
func setRecvErr(*net.UDPConn, bool) {}

//go:build !linux

package quicx

import "net"

// inspectBuffers cannot ask the kernel portably outside Linux; zero means
// unknown.
func inspectBuffers(*net.UDPConn) BufferSizes { return BufferSizes{} }

func forceBuffers(*net.UDPConn, int) {}

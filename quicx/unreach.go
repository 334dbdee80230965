package quicx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"

	"github.com/quic-go/quic-go"
)

// NoListenerError is returned by Dial when the server's host answered the
// first packets with ICMP port unreachable: the host is up, but nothing
// listens on that UDP port. scp says "Connection refused" in that case;
// without this check a QUIC client would only run into its handshake
// timeout.
//
// quic-go does not surface ICMP errors, and the kernel reports them on an
// unconnected UDP socket only when IP_RECVERR (IPV6_RECVERR) is set. Dial
// sets it on its socket for the handshake only, then clears it, so a
// stray ICMP error later cannot end a working connection. Linux only:
// elsewhere the dial ends at its timeout as before.
type NoListenerError struct {
	Host string // as given to Dial
	Port int
}

func (e *NoListenerError) Error() string {
	return fmt.Sprintf("nothing listens on UDP %d at %s", e.Port, e.Host)
}

// Unwrap is syscall.ECONNREFUSED, the errno the kernel reported.
func (e *NoListenerError) Unwrap() error { return syscall.ECONNREFUSED }

// noListener turns the refused dial of addr ("host:port") into a
// *NoListenerError; other errors are returned as they are.
func noListener(addr string, err error) error {
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return err
	}
	host, port, serr := net.SplitHostPort(addr)
	if serr != nil {
		return err
	}
	p, _ := strconv.Atoi(port)
	return &NoListenerError{Host: host, Port: p}
}

// IsNoAnswer reports whether err is a dial that heard nothing back in
// time: the context's deadline, quic-go's handshake idle timeout or its
// handshake timeout. Callers say "no answer" for all three, one wording
// for one cause.
func IsNoAnswer(err error) bool {
	var it *quic.IdleTimeoutError
	var ht *quic.HandshakeTimeoutError
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &it) || errors.As(err, &ht)
}

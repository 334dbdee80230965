package main

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/qxfer/qxfer/quicx"
)

// remote is a parsed HOST[:PORT]:PATH.
type remote struct {
	Host string // without brackets
	Port int
	Path string // as typed; "" means the server root
}

// Addr is "host:port" for dialing and for known_hosts.
func (r remote) Addr() string { return net.JoinHostPort(r.Host, strconv.Itoa(r.Port)) }

var errNotRemote = errors.New("not a remote path")

// parseRemote parses HOST[:PORT]:PATH, where HOST may be [IPv6]. The colon
// after the host is required (it is what makes the argument remote); a
// purely numeric element between two colons is the port, so
// "host:4433:dir" has port 4433 and "host:dir" the default port.
func parseRemote(s string) (remote, error) {
	host, rest, err := splitHost(s)
	if err != nil {
		return remote{}, err
	}
	if rest == "" {
		return remote{}, fmt.Errorf("%q: %w (want HOST[:PORT]:PATH)", s, errNotRemote)
	}
	rest = rest[1:]
	r := remote{Host: host, Port: quicx.DefaultPort, Path: rest}
	if i := strings.IndexByte(rest, ':'); i > 0 && isPort(rest[:i]) {
		p, err := parsePort(rest[:i])
		if err != nil {
			return remote{}, fmt.Errorf("%q: %w", s, err)
		}
		r.Port, r.Path = p, rest[i+1:]
	}
	return r, nil
}

// parseHostArg parses HOST[:PORT][:PATH] for commands whose path is
// optional (ls, shell): here "host:4433" is a port, not a path.
func parseHostArg(s string) (remote, error) {
	host, rest, err := splitHost(s)
	if err != nil {
		return remote{}, err
	}
	r := remote{Host: host, Port: quicx.DefaultPort}
	if rest == "" {
		return r, nil
	}
	rest = rest[1:] // the ':' checked by splitHost
	if i := strings.IndexByte(rest, ':'); i >= 0 {
		if isPort(rest[:i]) {
			p, err := parsePort(rest[:i])
			if err != nil {
				return remote{}, fmt.Errorf("%q: %w", s, err)
			}
			r.Port, r.Path = p, rest[i+1:]
			return r, nil
		}
		r.Path = rest
		return r, nil
	}
	if isPort(rest) {
		p, err := parsePort(rest)
		if err != nil {
			return remote{}, fmt.Errorf("%q: %w", s, err)
		}
		r.Port = p
		return r, nil
	}
	r.Path = rest
	return r, nil
}

// splitHost takes the host off the front of s; rest is "" or starts with
// ':'.
func splitHost(s string) (host, rest string, err error) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", fmt.Errorf("%q: missing ] after IPv6 address", s)
		}
		host, rest = s[1:end], s[end+1:]
		if net.ParseIP(host) == nil {
			return "", "", fmt.Errorf("%q: %q is not an IPv6 address", s, host)
		}
	} else {
		if ip := unbracketedIPv6(s); ip != "" {
			return "", "", withExit(exitUsage, fmt.Errorf("%q: an IPv6 address must be written in brackets", s),
				"write [ADDRESS]:PORT:PATH or [ADDRESS]:PATH, for example [::1]:4433:backup")
		}
		i := strings.IndexByte(s, ':')
		if i < 0 {
			host, rest = s, ""
		} else {
			host, rest = s[:i], s[i:]
		}
		if strings.ContainsAny(host, "[]/\\ \t") {
			return "", "", fmt.Errorf("%q: bad host name %q", s, host)
		}
	}
	if host == "" {
		return "", "", fmt.Errorf("%q: %w (missing host)", s, errNotRemote)
	}
	if rest != "" && rest[0] != ':' {
		return "", "", fmt.Errorf("%q: unexpected %q after host", s, rest)
	}
	return host, rest, nil
}

// unbracketedIPv6 returns the longest prefix of s, ending before a ':' or
// at the end, that is an IPv6 address ("::1" of "::1:37325:backup"), or
// "" if there is none. Written without brackets, such an address would be
// cut at its first colon.
func unbracketedIPv6(s string) string {
	for i := len(s); i > 0; i-- {
		if i < len(s) && s[i] != ':' {
			continue
		}
		p := s[:i]
		if strings.Contains(p, ":") && net.ParseIP(p) != nil {
			return p
		}
	}
	return ""
}

func isPort(s string) bool {
	if s == "" || len(s) > 5 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return p, nil
}

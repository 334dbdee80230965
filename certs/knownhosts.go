package certs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// errBadHost is wrapped by errors about a malformed HOST:PORT.
var errBadHost = errors.New("malformed host")

// KnownHost is one entry of a known_hosts file.
type KnownHost struct {
	// Host is "host:port" in canonical form: the host lower-cased (IP
	// addresses in netip's canonical spelling), IPv6 in brackets, e.g.
	// "example.org:4433" or "[::1]:4433".
	Host string
	// Fingerprint is the server's certificate fingerprint.
	Fingerprint Fingerprint
	// Line is the 1-based line number in the file; 0 if unknown.
	Line int
}

// ParseKnownHosts parses known_hosts content: lines of "HOST:PORT
// FINGERPRINT". Lines starting with '#' and blank lines are ignored. Hosts are
// returned in canonical form (see [KnownHost.Host]). A malformed line is an
// error naming its line number.
func ParseKnownHosts(r io.Reader) ([]KnownHost, error) {
	return parseKnownHosts(r, "")
}

// parseKnownHosts is ParseKnownHosts with name used in error positions.
func parseKnownHosts(r io.Reader, name string) ([]KnownHost, error) {
	var hosts []KnownHost
	err := scanLines(r, name, func(n int, line string) error {
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return fmt.Errorf("got %d fields, want 2 (HOST:PORT FINGERPRINT)", len(fields))
		}
		host, err := normalizeHost(fields[0])
		if err != nil {
			return err
		}
		fp, err := ParseFingerprint(fields[1])
		if err != nil {
			return err
		}
		hosts = append(hosts, KnownHost{Host: host, Fingerprint: fp, Line: n})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return hosts, nil
}

// normalizeHost returns the canonical form of a "host:port" address: IP
// addresses as netip prints them, host names lower-cased and restricted to
// letters, digits, '.', '-' and '_', the port in decimal without leading
// zeros, IPv6 in brackets.
func normalizeHost(hostport string) (string, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", fmt.Errorf("%w %q: want HOST:PORT", errBadHost, truncate(hostport, maxErrInput))
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return "", fmt.Errorf("%w %q: bad port", errBadHost, truncate(hostport, maxErrInput))
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		host = addr.String()
	} else {
		host = strings.ToLower(host)
		if !validHostname(host) {
			return "", fmt.Errorf("%w %q: bad host name", errBadHost, truncate(hostport, maxErrInput))
		}
	}
	return net.JoinHostPort(host, strconv.FormatUint(p, 10)), nil
}

// validHostname reports whether s (already lower-cased) is a plausible DNS
// name.
func validHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// KnownHosts is a known_hosts file loaded in memory. It is safe for
// concurrent use.
type KnownHosts struct {
	path string

	// mu guards the following fields
	mu      sync.Mutex
	entries []KnownHost
}

// LoadKnownHosts reads the known_hosts file at path. A missing file gives an
// empty KnownHosts that creates the file on the first [KnownHosts.Add].
func LoadKnownHosts(path string) (*KnownHosts, error) {
	k := &KnownHosts{path: path}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return k, nil
	}
	if err != nil {
		return nil, err
	}
	k.entries, err = parseKnownHosts(bytes.NewReader(data), path)
	if err != nil {
		return nil, err
	}
	return k, nil
}

// Path returns the file's path.
func (k *KnownHosts) Path() string {
	return k.path
}

// Lookup returns the first entry for host, given as "host:port" (the host
// part is case-insensitive). It reports false if there is none or host is
// malformed. To decide whether to trust a fingerprint use [KnownHosts.Match]
// or a [HostCheck]: a host may have several entries.
func (k *KnownHosts) Lookup(host string) (KnownHost, bool) {
	norm, err := normalizeHost(host)
	if err != nil {
		return KnownHost{}, false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, e := range k.entries {
		if e.Host == norm {
			return e, true
		}
	}
	return KnownHost{}, false
}

// Add records fp for host ("host:port"): it appends a line to the file,
// creating the file (mode 0600) and its directory (0700) if needed. The file
// is re-read first, so entries added by another process are seen. Adding a
// fingerprint already recorded for host does nothing; if host is recorded
// with a different fingerprint, Add returns a *[MismatchError].
func (k *KnownHosts) Add(host string, fp Fingerprint) error {
	norm, err := normalizeHost(host)
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	_, err = k.add(norm, fp)
	return err
}

// add implements Add for a normalized host and reports whether a line was
// written. It must be called with mu held.
func (k *KnownHosts) add(host string, fp Fingerprint) (bool, error) {
	if fp.IsZero() {
		return false, fmt.Errorf("%w: zero fingerprint for %s", ErrBadFingerprint, host)
	}
	data, err := os.ReadFile(k.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	entries, err := parseKnownHosts(bytes.NewReader(data), k.path)
	if err != nil {
		return false, err
	}
	k.entries = entries
	if e, ok := k.match(host, fp); ok {
		if e.Fingerprint == fp {
			return false, nil
		}
		return false, &MismatchError{Host: host, Want: e.Fingerprint, Got: fp, File: k.path, Line: e.Line}
	}

	if err := os.MkdirAll(filepath.Dir(k.path), 0o700); err != nil {
		return false, err
	}
	line := host + " " + fp.String() + "\n"
	lines := bytes.Count(data, []byte("\n"))
	if len(data) > 0 && data[len(data)-1] != '\n' {
		line = "\n" + line
		lines++
	}
	f, err := os.OpenFile(k.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return false, err
	}
	// One write, so concurrent appenders cannot interleave within a line.
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return false, err
	}
	if err := f.Close(); err != nil {
		return false, err
	}
	k.entries = append(k.entries, KnownHost{Host: host, Fingerprint: fp, Line: lines + 1})
	return true, nil
}

// match returns the entry for host whose fingerprint is fp, or else the first
// entry for host, and reports whether host has any entry. It must be called
// with mu held.
func (k *KnownHosts) match(host string, fp Fingerprint) (KnownHost, bool) {
	var first KnownHost
	found := false
	for _, e := range k.entries {
		if e.Host != host {
			continue
		}
		if e.Fingerprint == fp {
			return e, true
		}
		if !found {
			first, found = e, true
		}
	}
	return first, found
}

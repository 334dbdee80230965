package certs

import (
	"errors"
	"fmt"
	"sync"
)

// ErrUnknownHost is returned (wrapped, with the host) by [KnownHosts.Match]
// for a host that has no entry.
var ErrUnknownHost = errors.New("unknown host")

// ErrNoTrust is returned by [NewHostCheck] when it has neither a
// known_hosts file nor a pinned fingerprint to decide with.
var ErrNoTrust = errors.New("no way to verify the server: need known_hosts or a fingerprint")

// errNotVerified is returned by [HostCheck.Pin] called before any
// fingerprint was verified.
var errNotVerified = errors.New("pin before any fingerprint was verified")

// Match looks fp up among the entries for host ("host:port", the host part
// case-insensitive) and changes nothing. Any entry whose fingerprint is fp
// matches, whatever its position, and Match returns it. If host has entries
// but none is fp, the error is a *[MismatchError] naming the first of them;
// if host has no entry, it wraps [ErrUnknownHost]. See [HostCheck] for the
// policy built on it.
func (k *KnownHosts) Match(host string, fp Fingerprint) (KnownHost, error) {
	norm, err := normalizeHost(host)
	if err != nil {
		return KnownHost{}, err
	}
	return k.matchHost(norm, fp)
}

// matchHost is Match for a host already in canonical form.
func (k *KnownHosts) matchHost(host string, fp Fingerprint) (KnownHost, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.match(host, fp)
	switch {
	case !ok:
		return KnownHost{}, fmt.Errorf("%w %s", ErrUnknownHost, host)
	case e.Fingerprint != fp:
		return KnownHost{}, &MismatchError{Host: host, Want: e.Fingerprint, Got: fp, File: k.path, Line: e.Line}
	}
	return e, nil
}

// HostCheck decides whether to trust the server at the other end of one
// connection. It is the client's only trust policy, the one OpenSSH applies
// to known_hosts:
//
//   - A pinned fingerprint (--fingerprint, an alias in config.toml) replaces
//     known_hosts: the server must present exactly it, and the file is
//     neither read nor changed. Anything else is a *[MismatchError] with an
//     empty File.
//   - Otherwise any entry for the host whose fingerprint matches accepts.
//     A host may have several entries (a certificate being rolled over,
//     several servers behind one name); their order does not matter.
//   - A host that has entries, none of which matches, is refused with a
//     *[MismatchError] naming the file and the line of the first entry, whose
//     Hint says what to do. The file is not changed: replacing a pin is the
//     user's decision.
//   - A host with no entry is trusted on first use: its fingerprint is
//     appended to known_hosts.
//
// The decision comes in two steps, so that a mismatch aborts the TLS
// handshake while a first-use pin waits until the connection is proven:
//
//  1. [HostCheck.Verify], which has the signature of quicx.VerifyFunc, runs
//     inside the handshake (tls.Config.VerifyConnection). It accepts or
//     refuses and writes nothing: at that point TLS has not yet checked
//     that the server holds the key of the certificate it sent, and the
//     server may still refuse us.
//  2. [HostCheck.Pin] runs once the connection is up, and records a host
//     that Verify found unknown.
//
// [KnownHosts.Check] does both steps at once. A HostCheck is safe for
// concurrent use; Verify may run once per connection to the same server.
type HostCheck struct {
	kh     *KnownHosts // nil when pinned is set
	host   string      // canonical form, or as given with a pin
	pinned Fingerprint

	// mu guards the following fields
	mu      sync.Mutex
	seen    Fingerprint // presented to the last Verify
	unknown bool        // the last Verify found no entry for host
	err     error       // the last Verify's refusal
}

// NewHostCheck returns the check for the server pinned under host
// ("host:port", in known_hosts and in error messages). If pinned is non-zero
// it is the only fingerprint accepted and kh, which may then be nil, is not
// used. Otherwise kh is required and host must be well-formed.
func NewHostCheck(kh *KnownHosts, host string, pinned Fingerprint) (*HostCheck, error) {
	norm, err := normalizeHost(host)
	switch {
	case !pinned.IsZero():
		if err != nil {
			norm = host // only named in errors, never written
		}
		return &HostCheck{host: norm, pinned: pinned}, nil
	case kh == nil:
		return nil, ErrNoTrust
	case err != nil:
		return nil, err
	}
	return &HostCheck{kh: kh, host: norm}, nil
}

// Verify accepts or refuses fp, the fingerprint the server presented, and
// writes nothing. It returns nil if fp is the pinned fingerprint, if it
// matches an entry for the host, or if the host has no entry (then
// [HostCheck.Pin] records it later); otherwise a *[MismatchError].
func (c *HostCheck) Verify(fp Fingerprint) error {
	var err error
	unknown := false
	if !c.pinned.IsZero() {
		if fp != c.pinned {
			err = &MismatchError{Host: c.host, Want: c.pinned, Got: fp}
		}
	} else if _, err = c.kh.matchHost(c.host, fp); errors.Is(err, ErrUnknownHost) {
		err, unknown = nil, true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen, c.unknown, c.err = fp, unknown, err
	return err
}

// Err returns the refusal of the last Verify, or nil. Inside a handshake a
// refusal reaches the dialer as a TLS alert; Err gives back the
// *[MismatchError] with its hints.
func (c *HostCheck) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Fingerprint returns the fingerprint presented to the last Verify, or the
// zero Fingerprint before the first.
func (c *HostCheck) Fingerprint() Fingerprint {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen
}

// Pin records the fingerprint the last Verify accepted if the host had no
// entry then, and reports whether it added a line. Call it once the
// connection is proven: the handshake finished and the server accepted us.
// If another process pinned a different fingerprint for the host in the
// meantime, Pin returns a *[MismatchError] and writes nothing. With a pinned
// fingerprint, or a host that was known, Pin does nothing. It returns the
// last Verify's refusal, if any, and an error if Verify was never called.
func (c *HostCheck) Pin() (added bool, err error) {
	c.mu.Lock()
	seen, unknown, err := c.seen, c.unknown, c.err
	c.mu.Unlock()
	switch {
	case err != nil:
		return false, err
	case seen.IsZero():
		return false, errNotVerified
	case !unknown:
		return false, nil
	}
	c.kh.mu.Lock()
	defer c.kh.mu.Unlock()
	return c.kh.add(c.host, seen)
}

// Check is the policy of [HostCheck] in one step, for a server whose
// fingerprint got is already proven: it verifies got for host ("host:port")
// with pinned (zero for none) and, if host is unknown, records got at once.
// added reports whether a line was written. In short:
//
//   - if pinned is non-zero, got must equal it, otherwise the result is a
//     *[MismatchError] with an empty File; the file is neither consulted nor
//     changed;
//   - if host is known, got must equal one of its recorded fingerprints,
//     otherwise the result is a *[MismatchError] naming the file and the
//     line of the host's first entry;
//   - if host is unknown, got is added and added is true.
func (k *KnownHosts) Check(host string, got, pinned Fingerprint) (added bool, err error) {
	c, err := NewHostCheck(k, host, pinned)
	if err != nil {
		return false, err
	}
	if err := c.Verify(got); err != nil {
		return false, err
	}
	return c.Pin()
}

// Package certs manages qxfer identities (ed25519 key + self-signed
// certificate), fingerprints, and the trust files known_hosts and
// authorized_clients.
//
// A peer is identified by the SHA-256 of its certificate's DER encoding,
// written in the style of OpenSSH as "SHA256:" followed by 43 characters of
// unpadded standard base64. Both sides pin fingerprints: a client records the
// server in known_hosts on first contact (trust on first use) and refuses a
// different fingerprint afterwards, by the policy of [HostCheck]; a server only
// accepts clients listed in authorized_clients.
//
// File formats (both: '#' starts a comment line, blank lines are ignored,
// lines may end in CRLF):
//
//	known_hosts          HOST:PORT FINGERPRINT
//	                     example.org:4433 SHA256:4e8v...
//	                     [::1]:4433 SHA256:4e8v...
//	authorized_clients   [OPTIONS] FINGERPRINT [free-text comment]
//	                     SHA256:4e8v... alice-laptop
//	                     root=alice,quota=10G SHA256:4e8v... alice-laptop
package certs

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ErrBadFingerprint is returned (wrapped, with the offending input) when a
// string is not a valid fingerprint.
var ErrBadFingerprint = errors.New("malformed fingerprint")

// Fingerprint is the SHA-256 of a certificate's DER encoding. The zero value
// means "no fingerprint".
type Fingerprint [sha256.Size]byte

const (
	// fingerprintPrefix starts the canonical text form.
	fingerprintPrefix = "SHA256:"
	// maxErrInput is how much of a bad input is quoted in an error message.
	maxErrInput = 80
)

// FingerprintOf returns the fingerprint of a DER-encoded certificate.
func FingerprintOf(certDER []byte) Fingerprint {
	return Fingerprint(sha256.Sum256(certDER))
}

// String returns the canonical form: "SHA256:" followed by the unpadded
// standard base64 encoding of the hash (43 characters), as OpenSSH prints key
// fingerprints.
func (f Fingerprint) String() string {
	return fingerprintPrefix + base64.RawStdEncoding.EncodeToString(f[:])
}

// IsZero reports whether f is the zero value.
func (f Fingerprint) IsZero() bool {
	return f == Fingerprint{}
}

// MarshalText implements [encoding.TextMarshaler] using [Fingerprint.String].
func (f Fingerprint) MarshalText() ([]byte, error) {
	return []byte(f.String()), nil
}

// UnmarshalText implements [encoding.TextUnmarshaler] using
// [ParseFingerprint].
func (f *Fingerprint) UnmarshalText(text []byte) error {
	fp, err := ParseFingerprint(string(text))
	if err != nil {
		return err
	}
	*f = fp
	return nil
}

// ParseFingerprint parses a fingerprint after trimming surrounding
// whitespace. Accepted forms:
//
//   - "SHA256:" + base64 of the 32-byte hash, padded or unpadded (the prefix
//     is case-insensitive, the base64 is not);
//   - 64 hexadecimal digits, either contiguous or as 32 colon-separated pairs
//     ("ab:cd:..."), in either case.
//
// Errors wrap [ErrBadFingerprint] and quote the input, truncated if long.
func ParseFingerprint(s string) (Fingerprint, error) {
	s = strings.TrimSpace(s)
	var (
		fp Fingerprint
		ok bool
	)
	if len(s) >= len(fingerprintPrefix) && strings.EqualFold(s[:len(fingerprintPrefix)], fingerprintPrefix) {
		fp, ok = parseBase64(s[len(fingerprintPrefix):])
	} else {
		fp, ok = parseHex(s)
	}
	if !ok {
		return Fingerprint{}, fmt.Errorf("%w: %q", ErrBadFingerprint, truncate(s, maxErrInput))
	}
	return fp, nil
}

// parseBase64 decodes the part after "SHA256:". Strict decoding rejects
// non-zero padding bits, so every fingerprint has exactly one spelling per
// padding style.
func parseBase64(s string) (Fingerprint, bool) {
	var enc *base64.Encoding
	switch len(s) {
	case base64.RawStdEncoding.EncodedLen(sha256.Size): // 43
		enc = base64.RawStdEncoding.Strict()
	case base64.StdEncoding.EncodedLen(sha256.Size): // 44
		enc = base64.StdEncoding.Strict()
	default:
		return Fingerprint{}, false
	}
	// The base64 decoder skips CR and LF; a fingerprint never contains them.
	if strings.ContainsAny(s, "\r\n") {
		return Fingerprint{}, false
	}
	b, err := enc.DecodeString(s)
	if err != nil || len(b) != sha256.Size {
		return Fingerprint{}, false
	}
	return Fingerprint(b), true
}

// parseHex decodes 64 hex digits, optionally as colon-separated pairs.
func parseHex(s string) (Fingerprint, bool) {
	const pairs = sha256.Size
	if len(s) == 3*pairs-1 {
		var b strings.Builder
		b.Grow(2 * pairs)
		for i := 0; i < len(s); i += 3 {
			if i+2 < len(s) && s[i+2] != ':' {
				return Fingerprint{}, false
			}
			b.WriteString(s[i : i+2])
		}
		s = b.String()
	}
	if len(s) != 2*pairs {
		return Fingerprint{}, false
	}
	var fp Fingerprint
	if _, err := hex.Decode(fp[:], []byte(s)); err != nil {
		return Fingerprint{}, false
	}
	return fp, true
}

// truncate shortens s to at most n bytes for use in messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

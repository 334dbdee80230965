package quicx

import (
	"crypto/tls"
	"errors"

	"github.com/qxfer/qxfer/certs"
)

// errNoPeerCert is returned by the handshake check when the peer sent no
// certificate; TLS turns it into a bad_certificate alert.
var errNoPeerCert = errors.New("peer presented no certificate")

// VerifyFunc decides, during the handshake, whether the peer whose
// certificate has the given fingerprint may continue. A non-nil error
// aborts the handshake.
type VerifyFunc func(fp certs.Fingerprint) error

// ServerTLS returns a TLS configuration for a server with identity id that
// requires a client certificate and lets verify accept or refuse it inside
// the handshake.
func ServerTLS(id *certs.Identity, alpn string, verify VerifyFunc) *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS13,
		Certificates:     []tls.Certificate{id.Certificate},
		NextProtos:       []string{alpn},
		ClientAuth:       tls.RequireAnyClientCert,
		VerifyConnection: verifyPeer(verify),
	}
}

// ClientTLS returns a TLS configuration for a client with identity id.
// Certificates are self-signed, so chain verification is replaced by verify,
// which pins the server's fingerprint. TLS 1.3 still checks that the server
// holds the private key of the certificate it presented.
func ClientTLS(id *certs.Identity, alpn, serverName string, verify VerifyFunc) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{id.Certificate},
		NextProtos:         []string{alpn},
		ServerName:         serverName,
		InsecureSkipVerify: true, // replaced by the fingerprint check below
		VerifyConnection:   verifyPeer(verify),
	}
}

func verifyPeer(verify VerifyFunc) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errNoPeerCert
		}
		return verify(certs.FingerprintOf(cs.PeerCertificates[0].Raw))
	}
}

// PeerFingerprint returns the fingerprint of the certificate the peer
// presented on a finished handshake.
func PeerFingerprint(cs tls.ConnectionState) (certs.Fingerprint, bool) {
	if len(cs.PeerCertificates) == 0 {
		return certs.Fingerprint{}, false
	}
	return certs.FingerprintOf(cs.PeerCertificates[0].Raw), true
}

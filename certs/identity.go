package certs

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// Names of the identity files inside the qxfer home directory.
const (
	// KeyFile holds the ed25519 private key as PKCS#8 PEM ("PRIVATE KEY").
	KeyFile = "identity.key"
	// CertFile holds the self-signed certificate as PEM ("CERTIFICATE").
	CertFile = "identity.crt"
)

const (
	pemTypeKey  = "PRIVATE KEY"
	pemTypeCert = "CERTIFICATE"
	// certCommonName is the subject and issuer CN of every identity.
	certCommonName = "qxfer"
	// certLifetime is how long a certificate is valid; peers are trusted by
	// fingerprint, so expiry would only force a needless re-pairing.
	certLifetime = 100 * 365 * 24 * time.Hour
)

// Errors wrapped by [LoadOrCreate]; unexported so callers rely on the hints
// rather than on the exact cause.
var (
	errKeyTooOpen = errors.New("private key file permissions are too open")
	errIncomplete = errors.New("incomplete identity")
	errKeyMatch   = errors.New("identity key and certificate do not match")
	errBadPEM     = errors.New("malformed pem file")
)

// Identity is a qxfer endpoint's key pair and self-signed certificate.
type Identity struct {
	// Certificate is ready for tls.Config.Certificates; Leaf is set.
	Certificate tls.Certificate
	// Fingerprint is the fingerprint of Certificate.Leaf.
	Fingerprint Fingerprint
}

// NewIdentity generates an in-memory identity: a fresh ed25519 key and a
// self-signed certificate (CommonName "qxfer", random 128-bit serial, valid
// from an hour ago for 100 years, usable for both server and client auth).
func NewIdentity() (*Identity, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("generate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: certCommonName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	return newIdentity(priv, der)
}

// newIdentity assembles an Identity from a key and a DER certificate,
// checking that they belong together.
func newIdentity(priv ed25519.PrivateKey, certDER []byte) (*Identity, error) {
	leaf, err := x509.ParseCertificate(certDER)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	pub, ok := leaf.PublicKey.(ed25519.PublicKey)
	if !ok || !pub.Equal(priv.Public()) {
		return nil, errKeyMatch
	}
	return &Identity{
		Certificate: tls.Certificate{
			Certificate: [][]byte{certDER},
			PrivateKey:  priv,
			Leaf:        leaf,
		},
		Fingerprint: FingerprintOf(certDER),
	}, nil
}

// createSettle is how long [LoadOrCreate] waits for another process that is
// creating the identity (its key written, its certificate not yet) before it
// reports the pair as incomplete. Creating takes milliseconds; two `qxfer
// serve` started at once on a fresh home (a CI script, two systemd units)
// meet in that window.
const createSettle = time.Second

// LoadOrCreate loads the identity stored in dir (identity.key and
// identity.crt). If neither file exists it creates dir (mode 0700) and both
// files, and reports created = true; the key is written with mode 0600 via a
// temporary file, fsync and a link that never replaces, so a crash never
// leaves half a key and of processes creating at once exactly one writes the
// key; the others wait for its certificate and load the same identity.
//
// It never overwrites an existing key: if only one file exists (after
// waiting up to createSettle for a creator to finish), or the two do not
// match, it returns an error. On unix it also refuses a key file readable or
// writable by group or others. Such errors have a Hint() []string method
// saying how to fix the problem.
func LoadOrCreate(dir string) (id *Identity, created bool, err error) {
	deadline := time.Now().Add(createSettle)
	for {
		id, created, err = loadOrCreate(dir)
		if !errors.Is(err, errCreating) || time.Now().After(deadline) {
			return id, created, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// errCreating marks a state another process may be in the middle of: the key
// is there, the certificate not yet. LoadOrCreate retries it.
var errCreating = errors.New("identity being created")

// loadOrCreate is one attempt of [LoadOrCreate].
func loadOrCreate(dir string) (id *Identity, created bool, err error) {
	keyPath := filepath.Join(dir, KeyFile)
	certPath := filepath.Join(dir, CertFile)
	// The certificate is looked at first: create publishes the key
	// before it, so a certificate seen here means its key was there
	// already. In the other order, a creator finishing between the two
	// looks showed a certificate without its key, an "incomplete
	// identity" that was not (TestLoadOrCreateConcurrent failed so once
	// in CI, under the race detector).
	_, certErr := os.Stat(certPath)
	keyInfo, keyErr := os.Stat(keyPath)
	keyExists, certExists := keyErr == nil, certErr == nil
	if keyErr != nil && !errors.Is(keyErr, fs.ErrNotExist) {
		return nil, false, keyErr
	}
	if certErr != nil && !errors.Is(certErr, fs.ErrNotExist) {
		return nil, false, certErr
	}

	switch {
	case !keyExists && !certExists:
		id, err := create(dir, keyPath, certPath)
		if err != nil {
			return nil, false, err
		}
		return id, true, nil
	case keyExists && !certExists:
		return nil, false, &hintError{
			creating: true,
			err:      fmt.Errorf("%w: %s exists but %s is missing", errIncomplete, keyPath, certPath),
			hints: []string{
				"restore " + certPath + " from a backup",
				"or move " + keyPath + " away to create a new identity (peers must then re-pin its fingerprint)",
			},
		}
	case !keyExists && certExists:
		return nil, false, &hintError{
			err: fmt.Errorf("%w: %s exists but %s is missing", errIncomplete, certPath, keyPath),
			hints: []string{
				"restore " + keyPath + " from a backup",
				"or move " + certPath + " away to create a new identity (peers must then re-pin its fingerprint)",
			},
		}
	}

	if runtime.GOOS != "windows" && keyInfo.Mode().Perm()&0o077 != 0 {
		return nil, false, &hintError{
			err:   fmt.Errorf("%w: %s has mode %#o, want 0600", errKeyTooOpen, keyPath, keyInfo.Mode().Perm()),
			hints: []string{"run: chmod 600 " + keyPath},
		}
	}
	id, err = load(keyPath, certPath)
	if err != nil {
		return nil, false, err
	}
	return id, false, nil
}

// load reads and checks an existing key and certificate.
func load(keyPath, certPath string) (*Identity, error) {
	keyDER, err := readPEM(keyPath, pemTypeKey)
	if err != nil {
		return nil, err
	}
	certDER, err := readPEM(certPath, pemTypeCert)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParsePKCS8PrivateKey(keyDER)
	if err != nil {
		return nil, fmt.Errorf("%s: parse private key: %w", keyPath, err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: private key is %T, want ed25519", keyPath, key)
	}
	id, err := newIdentity(priv, certDER)
	if errors.Is(err, errKeyMatch) {
		return nil, &hintError{
			err: fmt.Errorf("%w: %s, %s", errKeyMatch, keyPath, certPath),
			hints: []string{
				"restore the matching pair from a backup",
				"or move both files away to create a new identity (peers must then re-pin its fingerprint)",
			},
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certPath, err)
	}
	return id, nil
}

// readPEM returns the bytes of the first PEM block in path, which must have
// the given type.
func readPEM(path, typ string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: %w: no pem block", path, errBadPEM)
	}
	if block.Type != typ {
		return nil, fmt.Errorf("%s: %w: block type %q, want %q", path, errBadPEM, block.Type, typ)
	}
	return block.Bytes, nil
}

// create generates a new identity and writes it to keyPath and certPath. The
// key is written first, and never over an existing one: if another process
// wrote its key first, create returns errCreating and LoadOrCreate loads that
// process's identity once its certificate is there. If the certificate write
// fails, LoadOrCreate reports the incomplete pair instead of silently
// replacing the key.
func create(dir, keyPath, certPath string) (*Identity, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	id, err := NewIdentity()
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(id.Certificate.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: pemTypeKey, Bytes: keyDER})
	certPEM := pem.EncodeToMemory(&pem.Block{Type: pemTypeCert, Bytes: id.Certificate.Certificate[0]})
	if err := writeFileAtomic(keyPath, keyPEM, 0o600, false); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("%w: %s appeared while creating", errCreating, keyPath)
		}
		return nil, err
	}
	if err := writeFileAtomic(certPath, certPEM, 0o644, true); err != nil {
		return nil, err
	}
	return id, nil
}

// writeFileAtomic writes data to a temporary file in the directory of path,
// syncs it, sets perm and renames it over path (replace) or hard-links it to
// path (!replace: an error wrapping fs.ErrExist if path exists), then syncs
// the directory (best effort), so readers see either nothing or the whole
// file. Where the file system has no hard links, !replace falls back to a
// rename after a check, which two creators can still race.
func writeFileAtomic(path string, data []byte, perm fs.FileMode, replace bool) (err error) {
	dir := filepath.Dir(path)
	// CreateTemp makes the file with mode 0600, so the key is never readable
	// by others, not even briefly.
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil && runtime.GOOS != "windows" {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := publish(tmp, path, replace); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // not supported everywhere (e.g. windows); the rename is done either way
		d.Close()
	}
	return nil
}

// publish moves the finished temporary file tmp to path; see writeFileAtomic.
func publish(tmp, path string, replace bool) error {
	if replace {
		return os.Rename(tmp, path)
	}
	err := os.Link(tmp, path)
	if err == nil || errors.Is(err, fs.ErrExist) {
		os.Remove(tmp)
		return err
	}
	// No hard links here (FAT, some network file systems).
	if _, serr := os.Lstat(path); serr == nil {
		os.Remove(tmp)
		return &fs.PathError{Op: "create", Path: path, Err: fs.ErrExist}
	}
	return os.Rename(tmp, path)
}

// hintError is an error with advice for the user, shown as "hint:" lines.
type hintError struct {
	err   error
	hints []string
	// creating says the state may be another process's creation in
	// progress: the error also matches errCreating.
	creating bool
}

func (e *hintError) Is(target error) bool { return e.creating && target == errCreating }

func (e *hintError) Error() string  { return e.err.Error() }
func (e *hintError) Unwrap() error  { return e.err }
func (e *hintError) Hint() []string { return e.hints }

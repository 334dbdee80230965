package certs

import (
	"bytes"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// hinter is implemented by errors that carry advice for the user.
type hinter interface{ Hint() []string }

func TestNewIdentity(t *testing.T) {
	id, err := NewIdentity()
	if err != nil {
		t.Fatalf("NewIdentity: got error %v, want nil", err)
	}
	leaf := id.Certificate.Leaf
	if leaf == nil {
		t.Fatal("got nil Leaf, want it set")
	}
	if got, want := len(id.Certificate.Certificate), 1; got != want {
		t.Fatalf("got %d certificates in chain, want %d", got, want)
	}
	if got, want := id.Fingerprint, FingerprintOf(id.Certificate.Certificate[0]); got != want {
		t.Errorf("Fingerprint: got %v, want %v", got, want)
	}
	if got, want := leaf.Subject.CommonName, "qxfer"; got != want {
		t.Errorf("CommonName: got %q, want %q", got, want)
	}
	if got, want := leaf.PublicKeyAlgorithm, x509.Ed25519; got != want {
		t.Errorf("PublicKeyAlgorithm: got %v, want %v", got, want)
	}
	priv, ok := id.Certificate.PrivateKey.(ed25519.PrivateKey)
	if !ok {
		t.Fatalf("PrivateKey: got %T, want ed25519.PrivateKey", id.Certificate.PrivateKey)
	}
	if !priv.Public().(ed25519.PublicKey).Equal(leaf.PublicKey) {
		t.Error("got certificate public key not matching the private key")
	}
	if err := leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature); err != nil {
		t.Errorf("self-signature: got error %v, want nil", err)
	}
	if got, want := leaf.KeyUsage, x509.KeyUsageDigitalSignature; got != want {
		t.Errorf("KeyUsage: got %v, want %v", got, want)
	}
	wantEKU := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	if !slices.Equal(leaf.ExtKeyUsage, wantEKU) {
		t.Errorf("ExtKeyUsage: got %v, want %v", leaf.ExtKeyUsage, wantEKU)
	}
	now := time.Now()
	if !leaf.NotBefore.Before(now.Add(-59*time.Minute)) || leaf.NotBefore.Before(now.Add(-61*time.Minute)) {
		t.Errorf("NotBefore: got %v, want about an hour before %v", leaf.NotBefore, now)
	}
	if minEnd := now.AddDate(99, 0, 0); leaf.NotAfter.Before(minEnd) {
		t.Errorf("NotAfter: got %v, want after %v", leaf.NotAfter, minEnd)
	}
	if leaf.SerialNumber.Sign() <= 0 || leaf.SerialNumber.Cmp(new(big.Int).Lsh(big.NewInt(1), 128)) >= 0 {
		t.Errorf("SerialNumber: got %v, want in (0, 2^128)", leaf.SerialNumber)
	}

	other, err := NewIdentity()
	if err != nil {
		t.Fatalf("NewIdentity: got error %v, want nil", err)
	}
	if other.Fingerprint == id.Fingerprint {
		t.Error("got two identities with the same fingerprint, want different")
	}
	if other.Certificate.Leaf.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Error("got two identities with the same serial, want different")
	}
}

// mustLoadOrCreate creates an identity in dir and returns its fingerprint.
func mustLoadOrCreate(t *testing.T, dir string) Fingerprint {
	t.Helper()
	id, _, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatalf("LoadOrCreate(%s): got error %v, want nil", dir, err)
	}
	return id.Fingerprint
}

func TestLoadOrCreate(t *testing.T) {
	unixOnly := runtime.GOOS == "windows"
	// The ways to break an identity that LoadOrCreate has written.
	remove := func(name string) func(*testing.T, string) {
		return func(t *testing.T, dir string) { mustRemove(t, filepath.Join(dir, name)) }
	}
	chmodKey := func(mode os.FileMode) func(*testing.T, string) {
		return func(t *testing.T, dir string) {
			if err := os.Chmod(filepath.Join(dir, KeyFile), mode); err != nil {
				t.Fatal(err)
			}
		}
	}
	// copyCert writes the certificate of the identity in from (dir itself
	// if from is nil) to name in dir.
	copyCert := func(from func(t *testing.T) string, name string) func(*testing.T, string) {
		return func(t *testing.T, dir string) {
			src := dir
			if from != nil {
				src = from(t)
			}
			data, err := os.ReadFile(filepath.Join(src, CertFile))
			if err != nil {
				t.Fatal(err)
			}
			mode := os.FileMode(0o644)
			if name == KeyFile {
				mode = 0o600
			}
			mustWrite(t, filepath.Join(dir, name), string(data), mode)
		}
	}
	otherIdentity := func(t *testing.T) string {
		other := t.TempDir()
		mustLoadOrCreate(t, other)
		return other
	}
	tests := []struct {
		name string
		skip bool
		// fresh: dir holds nothing. Otherwise an identity is created in
		// dir, then broken by breakIt if it is set; a successful load
		// must give its fingerprint.
		fresh       bool
		breakIt     func(t *testing.T, dir string)
		wantCreated bool
		wantErr     error // unexported cause; nil for success
		wantHint    bool
	}{
		{name: "creates in missing dir", fresh: true, wantCreated: true},
		{name: "reloads same identity"},
		{name: "only key", breakIt: remove(CertFile), wantErr: errIncomplete, wantHint: true},
		{name: "only cert", breakIt: remove(KeyFile), wantErr: errIncomplete, wantHint: true},
		{name: "key and cert do not match", breakIt: copyCert(otherIdentity, CertFile), wantErr: errKeyMatch, wantHint: true},
		{name: "key too open", skip: unixOnly, breakIt: chmodKey(0o644), wantErr: errKeyTooOpen, wantHint: true},
		{name: "key group readable", skip: unixOnly, breakIt: chmodKey(0o640), wantErr: errKeyTooOpen, wantHint: true},
		{name: "key not pem", breakIt: func(t *testing.T, dir string) {
			mustWrite(t, filepath.Join(dir, KeyFile), "garbage\n", 0o600)
		}, wantErr: errBadPEM},
		{name: "pem types swapped", breakIt: copyCert(nil, KeyFile), wantErr: errBadPEM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.skip {
				t.Skip("not supported on " + runtime.GOOS)
			}
			dir := filepath.Join(t.TempDir(), "home", "qxfer")
			var wantFP Fingerprint
			if !tt.fresh {
				wantFP = mustLoadOrCreate(t, dir)
			}
			if tt.breakIt != nil {
				tt.breakIt(t, dir)
			}
			keyBefore, _ := os.ReadFile(filepath.Join(dir, KeyFile))

			id, created, err := LoadOrCreate(dir)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got error %v, want %v", err, tt.wantErr)
				}
				var h hinter
				if gotHint := errors.As(err, &h) && len(h.Hint()) > 0; gotHint != tt.wantHint {
					t.Errorf("got hint %v, want %v (error %v)", gotHint, tt.wantHint, err)
				}
				keyAfter, _ := os.ReadFile(filepath.Join(dir, KeyFile))
				if string(keyAfter) != string(keyBefore) {
					t.Error("got key file changed after error, want it untouched")
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if created != tt.wantCreated {
				t.Errorf("created: got %v, want %v", created, tt.wantCreated)
			}
			if !wantFP.IsZero() && id.Fingerprint != wantFP {
				t.Errorf("fingerprint: got %v, want %v", id.Fingerprint, wantFP)
			}
			if id.Certificate.Leaf == nil {
				t.Error("got nil Leaf, want it set")
			}
			if runtime.GOOS != "windows" {
				checkMode(t, filepath.Join(dir, KeyFile), 0o600)
				if tt.wantCreated {
					checkMode(t, dir, 0o700)
				}
			}
			// Loading again must give the same identity and create nothing.
			again, created, err := LoadOrCreate(dir)
			if err != nil {
				t.Fatalf("second LoadOrCreate: got error %v, want nil", err)
			}
			if created {
				t.Error("second LoadOrCreate: got created true, want false")
			}
			if again.Fingerprint != id.Fingerprint {
				t.Errorf("second LoadOrCreate: got fingerprint %v, want %v", again.Fingerprint, id.Fingerprint)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 2 {
				t.Errorf("got %d files in %s, want 2 (no temporary files left)", len(entries), dir)
			}
		})
	}
}

func mustRemove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, path, content string, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("%s: got mode %#o, want %#o", path, got, want)
	}
}

func TestLoadOrCreateTooOpenMessage(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no unix permissions on windows")
	}
	dir := t.TempDir()
	mustLoadOrCreate(t, dir)
	keyPath := filepath.Join(dir, KeyFile)
	if err := os.Chmod(keyPath, 0o604); err != nil {
		t.Fatal(err)
	}
	_, _, err := LoadOrCreate(dir)
	if err == nil {
		t.Fatal("got nil error, want one")
	}
	if !strings.Contains(err.Error(), keyPath) {
		t.Errorf("got message %q, want it to name %s", err, keyPath)
	}
	var h hinter
	if !errors.As(err, &h) {
		t.Fatalf("got error %T without Hint, want a hint", err)
	}
	want := "chmod 600 " + keyPath
	if !slices.ContainsFunc(h.Hint(), func(s string) bool { return strings.Contains(s, want) }) {
		t.Errorf("got hints %q, want one containing %q", h.Hint(), want)
	}
}

// TestIdentityHandshake checks that identities work for mutual TLS 1.3 and
// that each side sees the other's fingerprint.
func TestIdentityHandshake(t *testing.T) {
	server, err := NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	client, err := NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	// verify returns a VerifyPeerCertificate that records the fingerprint
	// and accepts only want.
	verify := func(want Fingerprint, got *Fingerprint) func([][]byte, [][]*x509.Certificate) error {
		return func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("no certificate")
			}
			*got = FingerprintOf(raw[0])
			if *got != want {
				return errors.New("wrong fingerprint")
			}
			return nil
		}
	}
	var sawClient, sawServer Fingerprint
	serverConf := &tls.Config{
		MinVersion:            tls.VersionTLS13,
		Certificates:          []tls.Certificate{server.Certificate},
		ClientAuth:            tls.RequireAnyClientCert,
		VerifyPeerCertificate: verify(client.Fingerprint, &sawClient),
	}
	clientConf := &tls.Config{
		MinVersion:            tls.VersionTLS13,
		Certificates:          []tls.Certificate{client.Certificate},
		InsecureSkipVerify:    true, // verified by fingerprint instead
		VerifyPeerCertificate: verify(server.Fingerprint, &sawServer),
	}
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	var wg sync.WaitGroup
	var serverErr error
	wg.Go(func() { serverErr = tls.Server(c1, serverConf).Handshake() })
	clientErr := tls.Client(c2, clientConf).Handshake()
	wg.Wait()
	if clientErr != nil || serverErr != nil {
		t.Fatalf("handshake: got errors client=%v server=%v, want nil", clientErr, serverErr)
	}
	if sawServer != server.Fingerprint {
		t.Errorf("client saw %v, want %v", sawServer, server.Fingerprint)
	}
	if sawClient != client.Fingerprint {
		t.Errorf("server saw %v, want %v", sawClient, client.Fingerprint)
	}
}

// TestLoadOrCreateConcurrent starts several creators at once on one fresh
// home, as two `qxfer serve` started together do (the s3_race script once
// failed this way: "identity.key exists but identity.crt is missing").
// Exactly one must create; every one must load that same identity.
func TestLoadOrCreateConcurrent(t *testing.T) {
	const creators, rounds = 8, 20
	for round := range rounds {
		dir := filepath.Join(t.TempDir(), "home")
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			fps   [creators]Fingerprint
			made  [creators]bool
			errs  [creators]error
		)
		for i := range creators {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				id, created, err := LoadOrCreate(dir)
				errs[i], made[i] = err, created
				if err == nil {
					fps[i] = id.Fingerprint
				}
			}()
		}
		close(start)
		wg.Wait()
		checkOneCreator(t, round, fps[:], made[:], errs[:])
		if t.Failed() {
			return
		}
	}
}

// TestLoadOrCreateConcurrentProcesses is TestLoadOrCreateConcurrent with
// separate processes (this test binary run again), the case the CLI meets.
func TestLoadOrCreateConcurrentProcesses(t *testing.T) {
	if dir := os.Getenv("QXFER_TEST_IDENTITY_DIR"); dir != "" {
		id, created, err := LoadOrCreate(dir)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(0)
		}
		fmt.Println(id.Fingerprint, created)
		os.Exit(0)
	}
	const creators, rounds = 4, 5
	for round := range rounds {
		dir := filepath.Join(t.TempDir(), "home")
		cmds := make([]*exec.Cmd, creators)
		outs := make([]bytes.Buffer, creators)
		for i := range cmds {
			cmds[i] = exec.Command(os.Args[0], "-test.run=^TestLoadOrCreateConcurrentProcesses$")
			cmds[i].Env = append(os.Environ(), "QXFER_TEST_IDENTITY_DIR="+dir)
			cmds[i].Stdout = &outs[i]
			if err := cmds[i].Start(); err != nil {
				t.Fatal(err)
			}
		}
		fps := make([]Fingerprint, creators)
		made := make([]bool, creators)
		errs := make([]error, creators)
		for i, cmd := range cmds {
			if err := cmd.Wait(); err != nil {
				t.Fatalf("creator %d: %v", i, err)
			}
			line := strings.TrimSpace(outs[i].String())
			fp, createdText, ok := strings.Cut(line, " ")
			switch {
			case !ok || fp == "error":
				errs[i] = errors.New(line)
			default:
				f, err := ParseFingerprint(fp)
				if err != nil {
					t.Fatalf("creator %d printed %q: %v", i, line, err)
				}
				fps[i], made[i] = f, createdText == "true"
			}
		}
		checkOneCreator(t, round, fps, made, errs)
		if t.Failed() {
			return
		}
	}
}

// checkOneCreator checks the outcome of creators racing on one home: no
// errors, exactly one created, all hold the same fingerprint.
func checkOneCreator(t *testing.T, round int, fps []Fingerprint, made []bool, errs []error) {
	t.Helper()
	n := 0
	for i := range fps {
		if errs[i] != nil {
			t.Errorf("round %d, creator %d: %v", round, i, errs[i])
			continue
		}
		if made[i] {
			n++
		}
		if fps[i] != fps[0] {
			t.Errorf("round %d: creator %d loaded %s, creator 0 %s", round, i, fps[i], fps[0])
		}
	}
	if n != 1 && !t.Failed() {
		t.Errorf("round %d: %d creators report created, want exactly 1", round, n)
	}
}

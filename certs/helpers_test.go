package certs

import (
	"errors"
	"testing"
)

// mustLoadKnownHosts loads the known-hosts file at path (missing: an
// empty one), failing the test on an error.
func mustLoadKnownHosts(t *testing.T, path string) *KnownHosts {
	t.Helper()
	k, err := LoadKnownHosts(path)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// checkMismatch fails the test unless err is a *MismatchError equal to
// want.
func checkMismatch(t *testing.T, err error, want *MismatchError) {
	t.Helper()
	var mis *MismatchError
	if !errors.As(err, &mis) {
		t.Fatalf("got error %v, want *MismatchError", err)
	}
	if *mis != *want {
		t.Errorf("got %+v, want %+v", *mis, *want)
	}
}

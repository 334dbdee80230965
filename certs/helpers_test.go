package certs

import "testing"

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

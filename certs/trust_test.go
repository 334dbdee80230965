package certs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKnownHostsMatch(t *testing.T) {
	a, b, c := testFP("a"), testFP("b"), testFP("c")
	path := filepath.Join(t.TempDir(), KnownHostsFile)
	// h:1 has two entries (a rollover), h:2 one.
	mustWrite(t, path, "h:1 "+a.String()+"\nh:2 "+c.String()+"\n# old and new\nh:1 "+b.String()+"\n", 0o600)
	k := mustLoadKnownHosts(t, path)
	tests := []struct {
		name        string
		host        string
		fp          Fingerprint
		want        KnownHost
		wantMis     *MismatchError // nil: no mismatch wanted
		wantUnknown bool
		wantBadHost bool
	}{
		{name: "first entry", host: "h:1", fp: a, want: KnownHost{Host: "h:1", Fingerprint: a, Line: 1}},
		{name: "second entry", host: "H:1", fp: b, want: KnownHost{Host: "h:1", Fingerprint: b, Line: 4}},
		{name: "only entry", host: "h:2", fp: c, want: KnownHost{Host: "h:2", Fingerprint: c, Line: 2}},
		{
			name: "none of two entries", host: "h:1", fp: c,
			wantMis: &MismatchError{Host: "h:1", Want: a, Got: c, File: path, Line: 1},
		},
		{
			name: "another host's fingerprint", host: "h:2", fp: a,
			wantMis: &MismatchError{Host: "h:2", Want: c, Got: a, File: path, Line: 2},
		},
		{name: "unknown host", host: "h:3", fp: a, wantUnknown: true},
		{name: "malformed host", host: "h", fp: a, wantBadHost: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := k.Match(tt.host, tt.fp)
			switch {
			case tt.wantMis != nil:
				checkMismatch(t, err, tt.wantMis)
			case tt.wantUnknown:
				if !errors.Is(err, ErrUnknownHost) {
					t.Fatalf("got error %v, want %v", err, ErrUnknownHost)
				}
			case tt.wantBadHost:
				if !errors.Is(err, errBadHost) {
					t.Fatalf("got error %v, want %v", err, errBadHost)
				}
			case err != nil:
				t.Fatalf("got error %v, want nil", err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNewHostCheck(t *testing.T) {
	a := testFP("a")
	k, err := LoadKnownHosts(filepath.Join(t.TempDir(), KnownHostsFile))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		kh      *KnownHosts
		host    string
		pinned  Fingerprint
		wantErr error // nil for success
	}{
		{name: "known_hosts", kh: k, host: "h:1"},
		{name: "pinned without known_hosts", host: "h:1", pinned: a},
		{name: "pinned malformed host", host: "h", pinned: a},
		{name: "neither", host: "h:1", wantErr: ErrNoTrust},
		{name: "known_hosts malformed host", kh: k, host: "h", wantErr: errBadHost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewHostCheck(tt.kh, tt.host, tt.pinned)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if (c == nil) != (tt.wantErr != nil) {
				t.Errorf("got check %v with error %v, want exactly one of them", c, err)
			}
		})
	}
}

// TestHostCheckSteps follows connections through Verify and Pin: Verify never
// writes, Pin writes only a host that was unknown, and the pin is taken
// against what the file holds at Pin time.
func TestHostCheckSteps(t *testing.T) {
	a, b := testFP("a"), testFP("b")
	path := filepath.Join(t.TempDir(), "qxfer", KnownHostsFile)
	k := mustLoadKnownHosts(t, path)
	fileLines := func() int {
		data, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(data), "\n")
	}
	type step struct {
		name          string
		host          string
		pinned        Fingerprint
		fp            Fingerprint
		before        func() // runs between Verify and Pin
		wantVerifyMis bool
		wantPinMis    bool
		wantAdded     bool
		wantLines     int // in the file after Pin
	}
	steps := []step{
		{name: "first contact pins", host: "h:1", fp: a, wantAdded: true, wantLines: 1},
		{name: "known", host: "h:1", fp: a, wantLines: 1},
		{name: "changed", host: "h:1", fp: b, wantVerifyMis: true, wantPinMis: true, wantLines: 1},
		{name: "pinned elsewhere ignores the file", host: "h:1", pinned: b, fp: b, wantLines: 1},
		{name: "pinned mismatch", host: "h:2", pinned: a, fp: b, wantVerifyMis: true, wantPinMis: true, wantLines: 1},
		{
			name: "another process pins the same first", host: "h:2", fp: b, wantLines: 2,
			before: func() { addElsewhere(t, path, "h:2", b) },
		},
		{
			name: "another process pins a different one first", host: "h:3", fp: a, wantPinMis: true, wantLines: 3,
			before: func() { addElsewhere(t, path, "h:3", b) },
		},
	}
	for _, tt := range steps {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewHostCheck(k, tt.host, tt.pinned)
			if err != nil {
				t.Fatal(err)
			}
			lines := fileLines()
			var mis *MismatchError
			if err := c.Verify(tt.fp); errors.As(err, &mis) != tt.wantVerifyMis {
				t.Fatalf("Verify: got error %v, want mismatch %v", err, tt.wantVerifyMis)
			}
			if got := c.Err(); (got != nil) != tt.wantVerifyMis {
				t.Errorf("Err: got %v, want mismatch %v", got, tt.wantVerifyMis)
			}
			if got := c.Fingerprint(); got != tt.fp {
				t.Errorf("Fingerprint: got %v, want %v", got, tt.fp)
			}
			if got := fileLines(); got != lines {
				t.Fatalf("Verify wrote: got %d lines, want %d", got, lines)
			}
			if tt.before != nil {
				tt.before()
			}
			added, err := c.Pin()
			if errors.As(err, &mis) != tt.wantPinMis {
				t.Fatalf("Pin: got error %v, want mismatch %v", err, tt.wantPinMis)
			}
			if !tt.wantPinMis && err != nil {
				t.Fatalf("Pin: got error %v, want nil", err)
			}
			if added != tt.wantAdded {
				t.Errorf("Pin: got added %v, want %v", added, tt.wantAdded)
			}
			if got := fileLines(); got != tt.wantLines {
				t.Errorf("got %d lines in the file, want %d", got, tt.wantLines)
			}
		})
	}

	c, err := NewHostCheck(k, "h:9", Fingerprint{})
	if err != nil {
		t.Fatal(err)
	}
	if added, err := c.Pin(); !errors.Is(err, errNotVerified) || added {
		t.Errorf("Pin before Verify: got %v, %v, want false, %v", added, err, errNotVerified)
	}
}

// addElsewhere pins fp for host in the file at path as another process
// would: through its own KnownHosts.
func addElsewhere(t *testing.T, path, host string, fp Fingerprint) {
	t.Helper()
	other := mustLoadKnownHosts(t, path)
	if err := other.Add(host, fp); err != nil {
		t.Fatal(err)
	}
}

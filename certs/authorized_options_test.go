package certs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAuthorizedOptions(t *testing.T) {
	a := testFP("a")
	tests := []struct {
		name    string
		opts    string // the OPTIONS word; "" for none
		comment string
		want    ClientAccess
		wantBad string // the option named by the OptionError; "" for success
	}{
		{name: "none", comment: "alice laptop", want: ClientAccess{Label: "alice laptop"}},
		{name: "root", opts: "root=teams/alice/", want: ClientAccess{Root: "teams/alice"}},
		{name: "root dot", opts: "root=.", want: ClientAccess{}},
		{name: "root cleaned", opts: "root=./a//b/.", want: ClientAccess{Root: "a/b"}},
		{name: "all", opts: "root=a,read-only,quota=1.5K,max-connections=3", comment: "ci", want: ClientAccess{Label: "ci", Root: "a", ReadOnly: true, Quota: 1536, MaxConnections: 3}},
		{name: "write-only", opts: "write-only,quota=2G", want: ClientAccess{WriteOnly: true, Quota: 2 << 30}},
		{name: "quota units", opts: "quota=10MiB", want: ClientAccess{Quota: 10 << 20}},
		{name: "unknown", opts: "root=a,no-pty", wantBad: "no-pty"},
		{name: "unknown with value", opts: "chroot=a", wantBad: "chroot=a"},
		{name: "case matters", opts: "Read-Only", wantBad: "Read-Only"},
		{name: "root escapes", opts: "root=a/../..", wantBad: "root=a/../.."},
		{name: "root absolute", opts: "root=/srv", wantBad: "root=/srv"},
		{name: "root backslash", opts: `root=a\b`, wantBad: `root=a\b`},
		{name: "root empty", opts: "root=", wantBad: "root="},
		{name: "root no value", opts: "root", wantBad: "root"},
		{name: "quota bad", opts: "quota=12Q", wantBad: "quota=12Q"},
		{name: "quota zero", opts: "quota=0", wantBad: "quota=0"},
		{name: "quota negative", opts: "quota=-1", wantBad: "quota=-1"},
		{name: "max-connections zero", opts: "max-connections=0", wantBad: "max-connections=0"},
		{name: "max-connections text", opts: "max-connections=two", wantBad: "max-connections=two"},
		{name: "flag with value", opts: "read-only=yes", wantBad: "read-only=yes"},
		{name: "twice", opts: "quota=1M,quota=2M", wantBad: "quota=2M"},
		{name: "both modes", opts: "read-only,write-only", wantBad: "write-only"},
		{name: "empty element", opts: "read-only,", wantBad: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := a.String()
			if tt.opts != "" {
				line = tt.opts + " " + line
			}
			if tt.comment != "" {
				line += " " + tt.comment
			}
			in := "# header\n" + line + "\n"
			got, err := ParseAuthorizedClients(strings.NewReader(in))
			if err != nil {
				t.Fatalf("parse %q: got error %v, want nil", in, err)
			}
			acc, err := got.Lookup(a)
			refused := tt.wantBad != "" || tt.name == "empty element"
			if !refused {
				if err != nil {
					t.Fatalf("Lookup: got error %v, want nil", err)
				}
				if acc != tt.want {
					t.Errorf("Lookup: got %+v, want %+v", acc, tt.want)
				}
				return
			}
			var oe *OptionError
			if !errors.As(err, &oe) {
				t.Fatalf("Lookup: got error %v, want an *OptionError", err)
			}
			if oe.Line != 2 || oe.Option != tt.wantBad || oe.Reason == "" {
				t.Errorf("OptionError: got line %d option %q reason %q, want line 2 option %q and a reason", oe.Line, oe.Option, oe.Reason, tt.wantBad)
			}
			if got.Contains(a) {
				t.Error("Contains: got true for a refused line, want false")
			}
		})
	}
}

// TestAuthorizedOptionsIsolated: a bad line refuses only its client, and a
// fingerprint on two lines is governed by the first.
func TestAuthorizedOptionsIsolated(t *testing.T) {
	a, b, c := testFP("a"), testFP("b"), testFP("c")
	path := filepath.Join(t.TempDir(), AuthorizedClientsFile)
	content := "root=x " + a.String() + " alice\n" +
		"quota=lots " + b.String() + " bob\n" +
		c.String() + " carol\n" +
		"read-only " + a.String() + " alice again\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	f := NewAuthorizedFile(path)
	acc, err := f.Lookup(a)
	if err != nil || acc != (ClientAccess{Label: "alice", Root: "x"}) {
		t.Errorf("Lookup(a): got %+v, %v; want the first line's access", acc, err)
	}
	_, err = f.Lookup(b)
	want := path + `:2: option "quota=lots": `
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Lookup(b): got %v, want an error starting %q", err, want)
	}
	if acc, err := f.Lookup(c); err != nil || acc.Label != "carol" {
		t.Errorf("Lookup(c): got %+v, %v; want label carol", acc, err)
	}
	if _, err := f.Lookup(testFP("d")); !errors.Is(err, ErrNotListed) {
		t.Errorf("Lookup(d): got %v, want ErrNotListed", err)
	}
	checkAllowed(t, f, map[Fingerprint]bool{a: true, b: false, c: true})
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"0", 0, false}, {"1", 1, false}, {"500K", 500 << 10, false}, {"1.5m", 3 << 19, false},
		{"2GiB", 2 << 30, false}, {"1T", 1 << 40, false}, {"10B", 10, false},
		{"", 0, true}, {"K", 0, true}, {"-1", 0, true}, {"0.5", 0, true}, {"1e3", 0, true},
		{"0x10", 0, true}, {"1_000", 0, true}, {"NaN", 0, true}, {"9999999T", 0, true}, {"12Q", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseSize(%q): got %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !errors.Is(err, ErrBadSize) {
			t.Errorf("ParseSize(%q): error %v does not wrap ErrBadSize", tt.in, err)
		}
	}
}

package certs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// checkErrText checks err against want, a part of the message a bad input
// must produce, or "" where the input is good: it fails the test unless
// err contains want, or, for "", unless err is nil. It reports whether an
// error was wanted, so that the case ends there.
func checkErrText(t *testing.T, err error, want string) bool {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("got error %v, want nil", err)
		}
		return false
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got error %v, want one containing %q", err, want)
	}
	return true
}

func TestParseKnownHosts(t *testing.T) {
	a, b := testFP("a"), testFP("b")
	tests := []struct {
		name    string
		in      string
		want    []KnownHost
		wantErr string // substring of the error; "" for success
	}{
		{name: "empty", in: ""},
		{
			name: "comments blank lines and crlf",
			in:   "# known\r\n\r\nexample.org:4433 " + a.String() + "\r\n  # more\n\t[::1]:4433\t" + b.String(),
			want: []KnownHost{
				{Host: "example.org:4433", Fingerprint: a, Line: 3},
				{Host: "[::1]:4433", Fingerprint: b, Line: 5},
			},
		},
		{
			name: "normalized",
			in: "Example.ORG:04433 " + a.String() + "\n" +
				"[0:0::0001]:1 " + b.String() + "\n" +
				"[10.0.0.1]:22 " + a.String() + "\n" +
				"[FE80::1%eth0]:9 " + fmt.Sprintf("%x", b[:]) + "\n",
			want: []KnownHost{
				{Host: "example.org:4433", Fingerprint: a, Line: 1},
				{Host: "[::1]:1", Fingerprint: b, Line: 2},
				{Host: "10.0.0.1:22", Fingerprint: a, Line: 3},
				{Host: "[fe80::1%eth0]:9", Fingerprint: b, Line: 4},
			},
		},
		{
			name: "duplicates kept",
			in:   "h:1 " + a.String() + "\nh:1 " + b.String() + "\n",
			want: []KnownHost{
				{Host: "h:1", Fingerprint: a, Line: 1},
				{Host: "h:1", Fingerprint: b, Line: 2},
			},
		},
		{name: "host only", in: "# c\nexample.org:4433\n", wantErr: "line 2: got 1 fields"},
		{name: "extra field", in: "h:1 " + a.String() + " comment\n", wantErr: "line 1: got 3 fields"},
		{name: "missing port", in: "example.org " + a.String(), wantErr: "line 1: malformed host"},
		{name: "zero port", in: "example.org:0 " + a.String(), wantErr: "line 1: malformed host"},
		{name: "port too big", in: "example.org:65536 " + a.String(), wantErr: "line 1: malformed host"},
		{name: "named port", in: "example.org:https " + a.String(), wantErr: "line 1: malformed host"},
		{name: "empty host", in: ":4433 " + a.String(), wantErr: "line 1: malformed host"},
		{name: "bad host character", in: "exa/mple.org:4433 " + a.String(), wantErr: "line 1: malformed host"},
		{name: "unbracketed ipv6", in: "::1:4433 " + a.String(), wantErr: "line 1: malformed host"},
		{name: "bad fingerprint", in: "\n\nh:1 SHA256:xyz\n", wantErr: "line 3: malformed fingerprint"},
		{name: "swapped fields", in: a.String() + " h:1\n", wantErr: "line 1: malformed host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKnownHosts(strings.NewReader(tt.in))
			if checkErrText(t, err, tt.wantErr) {
				return
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLoadKnownHosts(t *testing.T) {
	dir := t.TempDir()
	a := testFP("a")

	missing, err := LoadKnownHosts(filepath.Join(dir, "missing", KnownHostsFile))
	if err != nil {
		t.Fatalf("missing file: got error %v, want nil", err)
	}
	if _, ok := missing.Lookup("h:1"); ok {
		t.Error("missing file: Lookup got an entry, want none")
	}

	bad := filepath.Join(dir, "bad")
	mustWrite(t, bad, "h:1 "+a.String()+"\nh:2\n", 0o600)
	_, err = LoadKnownHosts(bad)
	if want := bad + ":2:"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("malformed file: got error %v, want one containing %q", err, want)
	}

	good := filepath.Join(dir, "good")
	mustWrite(t, good, "# c\nExample.org:4433 "+a.String()+"\n", 0o600)
	k, err := LoadKnownHosts(good)
	if err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	if got := k.Path(); got != good {
		t.Errorf("Path: got %q, want %q", got, good)
	}
	lookups := []struct {
		name   string
		host   string
		wantOK bool
	}{
		{name: "exact", host: "example.org:4433", wantOK: true},
		{name: "upper case", host: "EXAMPLE.ORG:4433", wantOK: true},
		{name: "other port", host: "example.org:4434"},
		{name: "other host", host: "example.com:4433"},
		{name: "malformed", host: "example.org"},
	}
	for _, tt := range lookups {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := k.Lookup(tt.host)
			if ok != tt.wantOK {
				t.Fatalf("got ok %v, want %v", ok, tt.wantOK)
			}
			want := KnownHost{}
			if tt.wantOK {
				want = KnownHost{Host: "example.org:4433", Fingerprint: a, Line: 2}
			}
			if got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestKnownHostsCheck(t *testing.T) {
	a, b := testFP("a"), testFP("b")
	path := filepath.Join(t.TempDir(), "qxfer", KnownHostsFile)
	k := mustLoadKnownHosts(t, path)
	steps := []struct {
		name       string
		host       string
		got        Fingerprint
		pinned     Fingerprint
		wantAdded  bool
		wantMis    *MismatchError // nil: no error wanted
		wantInFile int            // lines expected in the file afterwards
	}{
		{name: "first contact adds", host: "Example.org:4433", got: a, wantAdded: true, wantInFile: 1},
		{name: "same fingerprint ok", host: "example.org:4433", got: a, wantInFile: 1},
		{
			name: "changed fingerprint refused", host: "EXAMPLE.ORG:4433", got: b,
			wantMis:    &MismatchError{Host: "example.org:4433", Want: a, Got: b, File: path, Line: 1},
			wantInFile: 1,
		},
		{name: "other host adds", host: "[::1]:4433", got: b, wantAdded: true, wantInFile: 2},
		{name: "pin matches", host: "pinned.example:1", got: a, pinned: a, wantInFile: 2},
		{
			name: "pin differs", host: "pinned.example:1", got: b, pinned: a,
			wantMis:    &MismatchError{Host: "pinned.example:1", Want: a, Got: b},
			wantInFile: 2,
		},
		{
			name: "pin overrides known_hosts", host: "example.org:4433", got: b, pinned: b,
			wantInFile: 2,
		},
	}
	for _, tt := range steps {
		t.Run(tt.name, func(t *testing.T) {
			added, err := k.Check(tt.host, tt.got, tt.pinned)
			if tt.wantMis != nil {
				checkMismatch(t, err, tt.wantMis)
			} else if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if added != tt.wantAdded {
				t.Errorf("added: got %v, want %v", added, tt.wantAdded)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Count(string(data), "\n"); got != tt.wantInFile {
				t.Errorf("got %d lines in file, want %d:\n%s", got, tt.wantInFile, data)
			}
		})
	}
	if runtime.GOOS != "windows" {
		checkMode(t, path, 0o600)
		checkMode(t, filepath.Dir(path), 0o700)
	}

	// A fresh load sees what Check wrote, with line numbers.
	k2 := mustLoadKnownHosts(t, path)
	want := KnownHost{Host: "[::1]:4433", Fingerprint: b, Line: 2}
	if got, ok := k2.Lookup("[::1]:4433"); !ok || got != want {
		t.Errorf("Lookup after reload: got %+v, %v, want %+v, true", got, ok, want)
	}
}

func TestKnownHostsAdd(t *testing.T) {
	a, b := testFP("a"), testFP("b")
	path := filepath.Join(t.TempDir(), KnownHostsFile)
	// A hand-edited file without a final newline.
	mustWrite(t, path, "# servers\n\nh:1 "+a.String(), 0o600)
	k := mustLoadKnownHosts(t, path)
	// Another process adds an entry after k was loaded.
	other := mustLoadKnownHosts(t, path)
	if err := other.Add("h:2", b); err != nil {
		t.Fatalf("Add h:2: got error %v, want nil", err)
	}

	tests := []struct {
		name     string
		host     string
		fp       Fingerprint
		wantLine int    // Line of the entry afterwards
		wantErr  string // "" for success
		wantMis  bool
	}{
		{name: "new host", host: "h:3", fp: a, wantLine: 5},
		{name: "again is a no-op", host: "H:3", fp: a, wantLine: 5},
		{name: "seen from other process", host: "h:2", fp: b, wantLine: 4},
		{name: "conflict with other process", host: "h:2", fp: a, wantMis: true},
		{name: "conflict", host: "h:1", fp: b, wantMis: true},
		{name: "malformed host", host: "h", fp: a, wantErr: "malformed host"},
		{name: "zero fingerprint", host: "h:9", fp: Fingerprint{}, wantErr: "zero fingerprint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := k.Add(tt.host, tt.fp)
			var mis *MismatchError
			switch {
			case tt.wantMis:
				if !errors.As(err, &mis) {
					t.Fatalf("got error %v, want *MismatchError", err)
				}
				return
			case checkErrText(t, err, tt.wantErr):
				return
			}
			got, ok := k.Lookup(tt.host)
			if want := (KnownHost{Host: strings.ToLower(tt.host), Fingerprint: tt.fp, Line: tt.wantLine}); !ok || got != want {
				t.Errorf("Lookup: got %+v, %v, want %+v, true", got, ok, want)
			}
		})
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "# servers\n\nh:1 " + a.String() + "\nh:2 " + b.String() + "\nh:3 " + a.String() + "\n"
	if string(data) != want {
		t.Errorf("got file\n%s\nwant\n%s", data, want)
	}
}

func TestMismatchError(t *testing.T) {
	a, b := testFP("a"), testFP("b")
	tests := []struct {
		name      string
		err       *MismatchError
		wantMsg   string
		wantHints []string // each must appear in some hint
	}{
		{
			name:      "known_hosts",
			err:       &MismatchError{Host: "h:1", Want: a, Got: b, File: "/k/known_hosts", Line: 7},
			wantMsg:   "server fingerprint for h:1 changed: known " + a.String() + ", got " + b.String(),
			wantHints: []string{"remove line 7 of /k/known_hosts", "qxfer id"},
		},
		{
			name:      "known_hosts without line",
			err:       &MismatchError{Host: "h:1", Want: a, Got: b, File: "/k/known_hosts"},
			wantMsg:   "server fingerprint for h:1 changed: known " + a.String() + ", got " + b.String(),
			wantHints: []string{"remove the line for h:1 from /k/known_hosts"},
		},
		{
			name:      "pinned",
			err:       &MismatchError{Host: "h:1", Want: a, Got: b},
			wantMsg:   "server fingerprint for h:1 does not match the pinned fingerprint: want " + a.String() + ", got " + b.String(),
			wantHints: []string{"--fingerprint", "qxfer id"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.wantMsg {
				t.Errorf("Error: got %q, want %q", got, tt.wantMsg)
			}
			if strings.Contains(tt.err.Error(), "\n") {
				t.Errorf("Error: got %q, want a single line", tt.err.Error())
			}
			hints := tt.err.Hint()
			for _, want := range tt.wantHints {
				if !slices.ContainsFunc(hints, func(h string) bool { return strings.Contains(h, want) }) {
					t.Errorf("Hint: got %q, want one containing %q", hints, want)
				}
			}
			if tt.err.File == "" && slices.ContainsFunc(hints, func(h string) bool { return strings.Contains(h, "remove line") }) {
				t.Errorf("Hint: got %q, want no known_hosts advice for a pinned fingerprint", hints)
			}
		})
	}
}

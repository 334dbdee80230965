package certs

import (
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
)

// The seed corpora live in testdata/fuzz/<FuzzName>/; f.Add adds a few more.

func FuzzParseFingerprint(f *testing.F) {
	f.Add(emptyFPB64)
	f.Add(emptyFPHex)
	f.Add(emptyFPPair)
	f.Fuzz(func(t *testing.T, s string) {
		fp, err := ParseFingerprint(s)
		if err != nil {
			if !errors.Is(err, ErrBadFingerprint) {
				t.Fatalf("got error %v, want it to wrap %v", err, ErrBadFingerprint)
			}
			// %q may spell a byte as \xNN: at most 4 characters per input byte.
			if len(err.Error()) > 4*maxErrInput+len(ErrBadFingerprint.Error())+8 {
				t.Fatalf("got %d-byte error message, want it truncated", len(err.Error()))
			}
			return
		}
		for _, form := range []string{fp.String(), hex.EncodeToString(fp[:])} {
			back, err := ParseFingerprint(form)
			if err != nil {
				t.Fatalf("ParseFingerprint(%q) (from %q): got error %v, want nil", form, s, err)
			}
			if back != fp {
				t.Fatalf("ParseFingerprint(%q): got %v, want %v", form, back, fp)
			}
		}
	})
}

// formatKnownHosts serializes hosts in known_hosts format.
func formatKnownHosts(hosts []KnownHost) string {
	var b strings.Builder
	for _, h := range hosts {
		b.WriteString(h.Host + " " + h.Fingerprint.String() + "\n")
	}
	return b.String()
}

func FuzzParseKnownHosts(f *testing.F) {
	f.Add("example.org:4433 " + emptyFPB64 + "\n")
	f.Add("# c\n\n[FE80::1%eth0]:9 " + emptyFPHex + "\r\n")
	f.Fuzz(func(t *testing.T, data string) {
		hosts, err := ParseKnownHosts(strings.NewReader(data))
		if err != nil {
			return
		}
		for _, h := range hosts {
			norm, err := normalizeHost(h.Host)
			if err != nil || norm != h.Host {
				t.Fatalf("normalizeHost(%q): got %q, %v, want it unchanged", h.Host, norm, err)
			}
		}
		text := formatKnownHosts(hosts)
		back, err := ParseKnownHosts(strings.NewReader(text))
		if err != nil {
			t.Fatalf("reparse of %q: got error %v, want nil", text, err)
		}
		if len(back) != len(hosts) {
			t.Fatalf("reparse of %q: got %d entries, want %d", text, len(back), len(hosts))
		}
		for i := range hosts {
			if back[i].Host != hosts[i].Host || back[i].Fingerprint != hosts[i].Fingerprint {
				t.Errorf("entry %d: got %+v, want %+v", i, back[i], hosts[i])
			}
			if back[i].Line != i+1 {
				t.Errorf("entry %d: got line %d, want %d", i, back[i].Line, i+1)
			}
		}
	})
}

// formatAuthorizedClients serializes a in authorized_clients format.
func formatAuthorizedClients(a *AuthorizedClients) string {
	var b strings.Builder
	for _, e := range a.entries {
		if e.opts != "" {
			b.WriteString(e.opts + " ")
		}
		b.WriteString(e.fp.String())
		if e.comment != "" {
			b.WriteString(" " + e.comment)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func FuzzParseAuthorizedClients(f *testing.F) {
	f.Add(emptyFPB64 + " alice-laptop\n")
	f.Add("# c\n\n" + emptyFPHex + "\tbob # phone\r\n")
	f.Add("root=a/b,read-only,quota=1.5G,max-connections=2 " + emptyFPB64 + " carol\n")
	f.Add("bogus,quota=x " + emptyFPHex + "\n")
	f.Fuzz(func(t *testing.T, data string) {
		a, err := ParseAuthorizedClients(strings.NewReader(data))
		if err != nil {
			return
		}
		text := formatAuthorizedClients(a)
		back, err := ParseAuthorizedClients(strings.NewReader(text))
		if err != nil {
			t.Fatalf("reparse of %q: got error %v, want nil", text, err)
		}
		if back.Len() != a.Len() {
			t.Fatalf("reparse of %q: got Len %d, want %d", text, back.Len(), a.Len())
		}
		for i := range a.entries {
			a.entries[i].line = i + 1
		}
		if !slices.Equal(back.entries, a.entries) {
			t.Fatalf("reparse of %q: got %+v, want %+v", text, back.entries, a.entries)
		}
		for _, e := range a.entries {
			acc, err := a.Lookup(e.fp)
			backAcc, backErr := back.Lookup(e.fp)
			if errors.Is(err, ErrNotListed) || acc != backAcc || (err == nil) != (backErr == nil) {
				t.Fatalf("reparse of %q: Lookup(%v) got %+v, %v, want %+v, %v (listed)", text, e.fp, backAcc, backErr, acc, err)
			}
		}
	})
}

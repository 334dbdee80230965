package certs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestParseAuthorizedClients(t *testing.T) {
	a, b, c := testFP("a"), testFP("b"), testFP("c")
	tests := []struct {
		name    string
		in      string
		want    []Fingerprint // must be contained
		notWant []Fingerprint // must not be contained
		wantLen int
		wantErr string // substring of the error; "" for success
	}{
		{name: "empty", in: "", notWant: []Fingerprint{a}, wantLen: 0},
		{
			name:    "comments and blank lines",
			in:      "# clients\n\n" + a.String() + "\n   \n\t# indented comment\n" + b.String() + "\n",
			want:    []Fingerprint{a, b},
			notWant: []Fingerprint{c},
			wantLen: 2,
		},
		{
			name:    "trailing comment",
			in:      a.String() + " alice-laptop\n" + b.String() + "\tbob's phone (old)  \n",
			want:    []Fingerprint{a, b},
			wantLen: 2,
		},
		{
			name:    "crlf and no final newline",
			in:      a.String() + " alice\r\n" + b.String(),
			want:    []Fingerprint{a, b},
			wantLen: 2,
		},
		{
			name:    "hex form",
			in:      fmt.Sprintf("%x carol\n", c[:]),
			want:    []Fingerprint{c},
			wantLen: 1,
		},
		{
			name:    "duplicates counted once",
			in:      a.String() + " one\n" + a.String() + " two\n",
			want:    []Fingerprint{a},
			wantLen: 1,
		},
		{name: "bad fingerprint", in: "# x\n\nSHA256:nope alice\n", wantErr: "line 3: malformed fingerprint"},
		{name: "bad second line", in: a.String() + "\nSHA256:nope " + b.String() + "x\n", wantErr: "line 2: malformed fingerprint"},
		{name: "options without fingerprint", in: a.String() + "\nread-only alice\n", wantErr: "line 2: malformed fingerprint"},
		{
			// A word before the fingerprint is an option since OPTIONS
			// exist: unknown, it refuses only b (TestAuthorizedOptions).
			name:    "word before fingerprint",
			in:      a.String() + "\nalice " + b.String() + "\n",
			want:    []Fingerprint{a},
			notWant: []Fingerprint{b},
			wantLen: 2,
		},
		{name: "comment glued to fingerprint", in: a.String() + "#alice\n", wantErr: "line 1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAuthorizedClients(strings.NewReader(tt.in))
			if checkErrText(t, err, tt.wantErr) {
				return
			}
			for _, fp := range tt.want {
				if !got.Contains(fp) {
					t.Errorf("Contains(%v): got false, want true", fp)
				}
			}
			for _, fp := range tt.notWant {
				if got.Contains(fp) {
					t.Errorf("Contains(%v): got true, want false", fp)
				}
			}
			if got.Len() != tt.wantLen {
				t.Errorf("Len: got %d, want %d", got.Len(), tt.wantLen)
			}
		})
	}
}

func TestAuthorizedClientsNil(t *testing.T) {
	var a *AuthorizedClients
	if a.Contains(testFP("a")) {
		t.Error("Contains on nil: got true, want false")
	}
	if got := a.Len(); got != 0 {
		t.Errorf("Len on nil: got %d, want 0", got)
	}
}

// checkAllowed asserts f.Allowed for each fingerprint in want.
func checkAllowed(t *testing.T, f *AuthorizedFile, want map[Fingerprint]bool) {
	t.Helper()
	for fp, w := range want {
		got, err := f.Allowed(fp)
		if err != nil {
			t.Fatalf("Allowed(%v): got error %v, want nil", fp, err)
		}
		if got != w {
			t.Errorf("Allowed(%v): got %v, want %v", fp, got, w)
		}
	}
}

// TestAuthorizedFileReload changes the file between checks. Each rewrite has
// a different size or goes through rename (new inode), so the change is seen
// however coarse the file system's timestamps are.
func TestAuthorizedFileReload(t *testing.T) {
	a, b := testFP("a"), testFP("b")
	path := filepath.Join(t.TempDir(), AuthorizedClientsFile)
	f := NewAuthorizedFile(path)
	if got := f.Path(); got != path {
		t.Errorf("Path: got %q, want %q", got, path)
	}

	// Missing file: nobody is authorized, and that is not an error.
	checkAllowed(t, f, map[Fingerprint]bool{a: false, b: false})

	mustWrite(t, path, a.String()+"\n", 0o600)
	checkAllowed(t, f, map[Fingerprint]bool{a: true, b: false})

	// In-place rewrite with a different length.
	mustWrite(t, path, b.String()+" bob\n", 0o600)
	checkAllowed(t, f, map[Fingerprint]bool{a: false, b: true})

	// Same length, replaced by rename: a new inode.
	tmp := path + ".tmp"
	mustWrite(t, tmp, a.String()+" bob\n", 0o600)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	checkAllowed(t, f, map[Fingerprint]bool{a: true, b: false})

	// A malformed file is an error naming file and line, and is retried.
	mustWrite(t, path, "# ok\n"+a.String()+"\nbogus\n", 0o600)
	_, err := f.Allowed(a)
	if want := path + ":3:"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got error %v, want one containing %q", err, want)
	}
	if !errors.Is(err, ErrBadFingerprint) {
		t.Errorf("got error %v, want it to wrap %v", err, ErrBadFingerprint)
	}
	mustWrite(t, path, a.String()+"\n"+b.String()+"\n", 0o600)
	checkAllowed(t, f, map[Fingerprint]bool{a: true, b: true})

	// Removing the file revokes everyone.
	mustRemove(t, path)
	checkAllowed(t, f, map[Fingerprint]bool{a: false, b: false})
}

func TestAuthorizedFileConcurrent(t *testing.T) {
	a := testFP("a")
	path := filepath.Join(t.TempDir(), AuthorizedClientsFile)
	f := NewAuthorizedFile(path)
	var wg sync.WaitGroup
	errs := make(chan error, 8*50)
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				if i == 0 && j%10 == 0 {
					// Alternate lengths so every write is a visible change.
					content := a.String() + strings.Repeat(" x", j%20/10+1) + "\n"
					if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
						errs <- err
						return
					}
				}
				// The file may be caught half-written; only errors other
				// than a parse error are unexpected.
				if _, err := f.Allowed(a); err != nil && !errors.Is(err, ErrBadFingerprint) {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("got error %v, want nil", err)
	}
	// Once writes are done the file is complete and a is allowed.
	checkAllowed(t, f, map[Fingerprint]bool{a: true})
}

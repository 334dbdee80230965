package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qxfer/qxfer/session"
)

func TestPrintable(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "plain", in: "a b/c.txt", want: "a b/c.txt"},
		{name: "unicode", in: "日本語 Grüße.txt", want: "日本語 Grüße.txt"},
		{name: "newline", in: "x\ny", want: `x\ny`},
		{name: "tab and CR", in: "a\tb\rc", want: `a\tb\rc`},
		{name: "ESC sequence", in: "\x1b]0;pwned\x07\x1b[2Jevil", want: `\x1b]0;pwned\a\x1b[2Jevil`},
		{name: "DEL and C1", in: "a\x7fb\u0085c", want: `a\x7fb\u0085c`},
		{name: "bidi override", in: "txt.\u202eexe", want: `txt.\u202eexe`},
		{name: "not UTF-8", in: "lat\xe9", want: `lat\xe9`},
		{name: "backslash stays", in: `a\b`, want: `a\b`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := printable(tt.in); got != tt.want {
				t.Fatalf("printable(%q): got %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestBarNameEscaped draws the bars of a pull whose file has a hostile
// name into a file: the name's escape sequence must not reach the output,
// its escaped form must.
func TestBarNameEscaped(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "bars"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v := newBarView(f)
	ti := session.TransferInfo{ID: 1, Dir: session.Pull, Path: "\x1b]0;pwned\x07x", Local: "x", Size: 1000, State: session.Running, Bytes: 10}
	v.plan([]session.TransferInfo{ti})
	v.update([]session.TransferInfo{ti}, time.Now())
	time.Sleep(3 * pollEvery) // a refresh or two
	ti.State, ti.Bytes = session.Done, 1000
	v.ended(ti)
	v.close()
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	out := string(b)
	if strings.Contains(out, "\x1b]0;pwned") || strings.ContainsRune(out, '\x07') {
		t.Fatalf("the name's escape sequence reached the bars: %q", out)
	}
	if !strings.Contains(out, `\x1b]0;pwned\ax`) {
		t.Fatalf("bars: got %q, want the escaped name", out)
	}
}

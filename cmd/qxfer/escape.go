package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// printable makes s safe to show on a terminal: every character that is
// not printable (Go's strconv.IsPrint: control characters such as newline
// and ESC, DEL, C1 controls, bidi overrides and other format characters)
// is written as its Go escape, \n, \x1b, \u202e, and a byte that is not
// UTF-8 as \xff, the way `ls -b` and Go's %q do, without the quotes. A
// name from a hostile server can then neither split a line nor send
// escape sequences to the terminal (scp's CVE-2019-6109). Printable text,
// spaces included, is unchanged. Every human-facing line that carries a
// name or a peer's message goes through it; --json keeps exact names.
func printable(s string) string {
	if isPrintable(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == ' ' || strconv.IsPrint(r):
			b.WriteString(s[i : i+size])
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	return b.String()
}

// printableWriter escapes control characters in what is written through
// it, line by line, keeping the newlines between lines: for output built
// from names and peer messages (connection notices, the shell). A write
// must hold whole lines, as fmt.Fprintf's do.
type printableWriter struct{ w io.Writer }

func (p printableWriter) Write(b []byte) (int, error) {
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		lines[i] = printable(l)
	}
	if _, err := io.WriteString(p.w, strings.Join(lines, "\n")); err != nil {
		return 0, err
	}
	return len(b), nil
}

func isPrintable(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || (r != ' ' && !strconv.IsPrint(r)) {
			return false
		}
		i += size
	}
	return true
}

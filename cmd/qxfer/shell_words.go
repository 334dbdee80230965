package main

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// word is one argument of a shell command line, split as sftp(1) splits
// them (OpenSSH's makeargv): blanks separate words; single or double
// quotes group; outside quotes a backslash makes the next character
// literal; inside double quotes a backslash escapes only `"` and `\`,
// inside single quotes only `'`.
//
// A wildcard (`*`, `?`, `[`) that is quoted or escaped is literal: pat
// keeps it behind a backslash, as path.Match reads it, and glob is true
// only when some wildcard was neither.
type word struct {
	lit  string // the word as meant: quotes and escapes removed
	pat  string // the word as a path.Match pattern
	glob bool   // pat has a wildcard that was not quoted or escaped
}

// errUnterminatedQuote and errUnterminatedEscape are sftp's messages.
var (
	errUnterminatedQuote  = errors.New("unterminated quoted argument")
	errUnterminatedEscape = errors.New("unterminated escape")
)

// isWild reports whether c has a meaning to path.Match, and so needs a
// backslash in a pattern to stand for itself. A `]` alone is literal
// to path.Match, but is escaped all the same, harmlessly.
func isWild(c rune) bool { return c == '*' || c == '?' || c == '[' || c == ']' || c == '\\' }

// splitWords splits a command line into words.
func splitWords(line string) ([]word, error) {
	var (
		out     []word
		lit     strings.Builder
		pat     strings.Builder
		glob    bool
		in      bool // a word has started (an empty "" is a word)
		quote   rune
		escaped bool
	)
	// raw is the bytes of the rune being read: a byte that is not UTF-8
	// is kept as it is (a local name may be any bytes), not made U+FFFD.
	var raw string
	literal := func(r rune) {
		lit.WriteString(raw)
		if isWild(r) {
			pat.WriteByte('\\')
		}
		pat.WriteString(raw)
	}
	for i := 0; i < len(line); {
		r, size := utf8.DecodeRuneInString(line[i:])
		raw = line[i : i+size]
		i += size
		switch {
		case escaped:
			escaped = false
			switch {
			case quote == 0:
				literal(r)
			case r == quote || (quote == '"' && r == '\\'):
				literal(r)
			default: // a backslash inside quotes that escapes nothing
				lit.WriteByte('\\')
				pat.WriteString(`\\`) // an escaped backslash
				literal(r)
			}
		case r == '\\':
			escaped, in = true, true
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			literal(r)
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				out = append(out, word{lit: lit.String(), pat: pat.String(), glob: glob})
				lit.Reset()
				pat.Reset()
				glob, in = false, false
			}
		case r == '*' || r == '?' || r == '[' || r == ']':
			lit.WriteRune(r)
			pat.WriteRune(r)
			glob = glob || r != ']'
			in = true
		default:
			literal(r)
			in = true
		}
	}
	switch {
	case escaped:
		return nil, errUnterminatedEscape
	case quote != 0:
		return nil, errUnterminatedQuote
	case in:
		out = append(out, word{lit: lit.String(), pat: pat.String(), glob: glob})
	}
	return out, nil
}

// lits returns the literal text of words.
func lits(ws []word) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.lit
	}
	return out
}

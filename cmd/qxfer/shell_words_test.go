package main

import (
	"errors"
	"path"
	"reflect"
	"testing"
)

func TestSplitWords(t *testing.T) {
	tests := []struct {
		name string
		line string
		want []word
	}{
		{"blanks", "  put\ta.txt   b ", []word{{"put", "put", false}, {"a.txt", "a.txt", false}, {"b", "b", false}}},
		{"wildcards", "get b* x?[0-9]", []word{{"get", "get", false}, {"b*", "b*", true}, {"x?[0-9]", "x?[0-9]", true}}},
		{"double quotes group", `put "my file.txt"`, []word{{"put", "put", false}, {"my file.txt", "my file.txt", false}}},
		{"single quotes group", `put 'my file.txt'`, []word{{"put", "put", false}, {"my file.txt", "my file.txt", false}}},
		{"quoted wildcard is literal", `ls "a*b" 'c?[d]'`, []word{{"ls", "ls", false}, {"a*b", `a\*b`, false}, {"c?[d]", `c\?\[d\]`, false}}},
		{"escaped wildcard is literal", `ls a\*b\[1\]`, []word{{"ls", "ls", false}, {"a*b[1]", `a\*b\[1\]`, false}}},
		{"escaped blank", `put a\ b`, []word{{"put", "put", false}, {"a b", "a b", false}}},
		{"part quoted, part wild", `ls "a b"*`, []word{{"ls", "ls", false}, {"a b*", "a b*", true}}},
		{"escaped backslash", `rm a\\b`, []word{{"rm", "rm", false}, {`a\b`, `a\\b`, false}}},
		{"backslash in double quotes escapes only quote and backslash", `rm "a\"b\\c\d"`, []word{{"rm", "rm", false}, {`a"b\c\d`, `a"b\\c\\d`, false}}},
		{"backslash in single quotes escapes only the quote", `rm 'a\'b\c'`, []word{{"rm", "rm", false}, {`a'b\c`, `a'b\\c`, false}}},
		{"empty quotes are a word", `rename "" x`, []word{{"rename", "rename", false}, {"", "", false}, {"x", "x", false}}},
		{"quote inside a word", `a"b c"d`, []word{{"ab cd", "ab cd", false}}},
		{"lone bracket is no wildcard", `ls a]`, []word{{"ls", "ls", false}, {"a]", "a]", false}}},
		{"nothing", "   ", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := splitWords(tt.line)
			if err != nil {
				t.Fatalf("splitWords(%q): %v", tt.line, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("splitWords(%q):\ngot  %+v\nwant %+v", tt.line, got, tt.want)
			}
		})
	}
	for _, bad := range []struct {
		line string
		want error
	}{
		{`put "a`, errUnterminatedQuote},
		{`put 'a`, errUnterminatedQuote},
		{`put a\`, errUnterminatedEscape},
	} {
		if got, err := splitWords(bad.line); !errors.Is(err, bad.want) {
			t.Errorf("splitWords(%q) = %+v, %v; want %v", bad.line, got, err, bad.want)
		}
	}
}

// TestWordPatternMatchesItself checks that a quoted or escaped name, read
// as a pattern, matches exactly the name it spells.
func TestWordPatternMatchesItself(t *testing.T) {
	for _, name := range []string{"a*b", "x?y", "br[1].txt", `back\slash`, "a]b", "plain"} {
		for _, line := range []string{escapeWord(name), `"` + name + `"`} {
			ws, err := splitWords(line)
			if err != nil || len(ws) != 1 {
				t.Fatalf("splitWords(%q) = %+v, %v", line, ws, err)
			}
			w := ws[0]
			if w.lit != name || w.glob {
				t.Errorf("%q: got lit %q glob %v, want %q, no wildcard", line, w.lit, w.glob, name)
			}
			if ok, err := path.Match(w.pat, name); !ok || err != nil {
				t.Errorf("%q: pattern %q does not match %q (%v)", line, w.pat, name, err)
			}
			if hasWild(w.pat) {
				t.Errorf("%q: pattern %q has a wildcard", line, w.pat)
			}
			if got := unescape(w.pat); got != name {
				t.Errorf("%q: unescape(%q) = %q, want %q", line, w.pat, got, name)
			}
		}
	}
}

package main

import (
	"io"
	"slices"
	"strings"
	"testing"
)

func TestSplitLine(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		words   []string
		wantCur string
	}{
		{name: "empty", in: "", words: nil, wantCur: ""},
		{name: "program only", in: "qxfer", words: nil, wantCur: "qxfer"},
		{name: "new word", in: "qxfer ", words: []string{"qxfer"}, wantCur: ""},
		{name: "partial", in: "qxfer pu", words: []string{"qxfer"}, wantCur: "pu"},
		{name: "spaces", in: "qxfer  push\tx  ", words: []string{"qxfer", "push", "x"}, wantCur: ""},
		{name: "single quotes", in: "qxfer push 'a b' c", words: []string{"qxfer", "push", "a b"}, wantCur: "c"},
		{name: "double quotes and escape", in: `qxfer push "a\"b" c`, words: []string{"qxfer", "push", `a"b`}, wantCur: "c"},
		{name: "backslash space", in: `qxfer push a\ b`, words: []string{"qxfer", "push"}, wantCur: "a b"},
		{name: "open quote", in: "qxfer push 'my fi", words: []string{"qxfer", "push"}, wantCur: "my fi"},
		{name: "colon stays", in: "qxfer ls box:di", words: []string{"qxfer", "ls"}, wantCur: "box:di"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			words, cur := splitLine(tt.in)
			if !slices.Equal(words, tt.words) || cur != tt.wantCur {
				t.Errorf("splitLine(%q) = %q, %q; want %q, %q", tt.in, words, cur, tt.words, tt.wantCur)
			}
		})
	}
}

func TestCompleteWords(t *testing.T) {
	parser, err := newParser(&cli{}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	files := func(cur string) []string {
		var out []string
		for _, f := range []string{"build.sh", "docs/", "notes.txt"} {
			if strings.HasPrefix(f, cur) {
				out = append(out, f)
			}
		}
		return out
	}
	aliases := []string{"build-box", "nas"}
	tests := []struct {
		name    string
		line    string
		want    []string // exactly, in order
		has     []string // at least these
		hasNot  []string
		aliases []string
	}{
		{name: "commands", line: "qxfer ", has: []string{"completion", "doctor", "id", "ls", "pull", "push", "serve", "shell", "version"}, hasNot: []string{"__complete", "--help"}},
		{name: "command prefix", line: "qxfer pu", want: []string{"pull", "push"}},
		{name: "global flags", line: "qxfer --log-", want: []string{"--log-format", "--log-level"}},
		{name: "command flags", line: "qxfer push --", has: []string{"--parallel", "--force", "--retry-for", "--home", "--fingerprint"}, hasNot: []string{"--root", "--listen"}},
		{name: "enum after flag", line: "qxfer --log-level ", want: []string{"debug", "error", "info", "warn"}},
		{name: "enum with =", line: "qxfer ls --log-format=j", want: []string{"--log-format=json"}},
		{name: "no values for an int flag", line: "qxfer push --parallel ", want: nil},
		{name: "alias for push remote", line: "qxfer push x bu", aliases: aliases, want: []string{"build-box:", "build.sh"}},
		{name: "alias after flags", line: "qxfer push -r -j 4 x bu", aliases: aliases, want: []string{"build-box:", "build.sh"}},
		{name: "short cluster with value", line: "qxfer push -rj 4 n", aliases: aliases, want: []string{"nas:", "notes.txt"}},
		{name: "alias for ls", line: "qxfer ls n", aliases: aliases, want: []string{"nas:"}},
		{name: "ls takes one argument", line: "qxfer ls nas: n", aliases: aliases, want: nil},
		{name: "alias for doctor", line: "qxfer doctor ", aliases: aliases, has: []string{"build-box:", "nas:"}},
		{name: "alias for shell", line: "qxfer --home /h shell b", aliases: aliases, want: []string{"build-box:"}},
		{name: "no aliases", line: "qxfer push x bu", want: []string{"build.sh"}},
		{name: "pull destination is local", line: "qxfer pull nas:a d", aliases: aliases, want: []string{"docs/"}},
		{name: "files for --home", line: "qxfer --home d", want: []string{"docs/"}},
		{name: "files for --root=", line: "qxfer serve --root=d", want: []string{"--root=docs/"}},
		{name: "completion shells", line: "qxfer completion ", want: []string{"bash", "fish", "zsh"}},
		{name: "after --", line: "qxfer push -- -", aliases: aliases, want: nil},
		{name: "unknown command", line: "qxfer frob ", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			words, cur := splitLine(tt.line)
			got := completeWords(parser.Model, words, cur, tt.aliases, files)
			if tt.want != nil || (tt.has == nil && tt.hasNot == nil) {
				if !slices.Equal(got, tt.want) {
					t.Errorf("%q: got %q, want %q", tt.line, got, tt.want)
				}
			}
			for _, h := range tt.has {
				if !slices.Contains(got, h) {
					t.Errorf("%q: got %q, want it to contain %q", tt.line, got, h)
				}
			}
			for _, h := range tt.hasNot {
				if slices.Contains(got, h) {
					t.Errorf("%q: got %q, want it not to contain %q", tt.line, got, h)
				}
			}
		})
	}
}

// TestCompletionScripts checks that each script calls the protocol and
// registers for qxfer.
func TestCompletionScripts(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		t.Run(sh, func(t *testing.T) {
			s := completionScripts[sh]
			if !strings.Contains(s, completeCmd) || !strings.Contains(s, "COMP_LINE") {
				t.Errorf("%s script does not run %q with COMP_LINE:\n%s", sh, completeCmd, s)
			}
		})
	}
	for _, sh := range strings.Split(cliEnum(t, "completion", "shell"), ",") {
		if completionScripts[sh] == "" {
			t.Errorf("no script for %q, which the shell argument accepts", sh)
		}
	}
}

// cliEnum returns the enum of a positional argument of a command.
func cliEnum(t *testing.T, cmd, arg string) string {
	t.Helper()
	parser, err := newParser(&cli{}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range parser.Model.Children {
		if ch.Name != cmd {
			continue
		}
		for _, p := range ch.Positional {
			if p.Name == arg {
				return p.Enum
			}
		}
	}
	t.Fatalf("no argument %s of %s", arg, cmd)
	return ""
}

package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/alecthomas/kong"
)

// Shell completion. "qxfer completion SHELL" prints a script; the script
// runs "qxfer __complete" with the command line up to the cursor in
// $COMP_LINE (and optionally a byte offset in $COMP_POINT, as bash's
// "complete -C" passes them), and qxfer prints the candidates for the word
// under the cursor, one per line, each a whole word. The scripts only
// adapt the candidates to their shell: bash splits words at ':' and '=',
// and no shell should add a space after a candidate ending in ':', '/'
// or '='.
//
// Candidates come from the kong model: commands, flags, enum values; for
// positional arguments tagged predictor:"host", the host aliases of
// config.toml (as "NAME:"); tagged predictor:"remote", the aliases and
// local files; untagged, local files.

// completeCmd is the hidden command the completion scripts run.
const completeCmd = "__complete"

// maxFileCandidates bounds the local files offered for one word.
const maxFileCandidates = 500

type completionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"Shell to print the script for (${enum})."`
}

// Help tells how to install each script.
func (completionCmd) Help() string {
	return `Prints a completion script on stdout. It completes commands, flags, flag
values, and host aliases from config.toml where a remote is expected.

  bash:  echo 'source <(qxfer completion bash)' >> ~/.bashrc
  zsh:   qxfer completion zsh > "${fpath[1]}/_qxfer"    (then restart zsh)
         or, after compinit in ~/.zshrc: source <(qxfer completion zsh)
  fish:  qxfer completion fish > ~/.config/fish/completions/qxfer.fish`
}

// Run prints the script.
func (c *completionCmd) Run(e *env) error {
	_, err := io.WriteString(e.stdout, completionScripts[c.Shell])
	return err
}

var completionScripts = map[string]string{
	"bash": `# bash completion for qxfer: source <(qxfer completion bash)
_qxfer() {
    local line=${COMP_LINE:0:COMP_POINT}
    local cur=${COMP_WORDS[COMP_CWORD]}
    local c full pre nospace=
    COMPREPLY=()
    while IFS= read -r c; do
        COMPREPLY+=("$c")
    done < <(COMP_LINE=$line "${COMP_WORDS[0]}" __complete 2>/dev/null)
    # qxfer prints whole words, but bash splits a word at ':' and '='
    # (COMP_WORDBREAKS): drop the part of the word before $cur.
    full=${line##*[[:space:]]}
    pre=${full%"$cur"}
    if [[ -n $pre && $pre != "$full" ]]; then
        COMPREPLY=("${COMPREPLY[@]#"$pre"}")
    fi
    for c in "${COMPREPLY[@]}"; do
        [[ $c == *[:/=] ]] && nospace=1
    done
    if [[ -n $nospace ]]; then
        compopt -o nospace 2>/dev/null
    fi
    return 0
}
complete -o default -F _qxfer qxfer
`,
	"zsh": `#compdef qxfer
# zsh completion for qxfer: qxfer completion zsh > "${fpath[1]}/_qxfer"
compdef _qxfer qxfer
_qxfer() {
    local line="${(j: :)words[1,CURRENT]}"
    local -a cands
    local c
    cands=("${(@f)$(COMP_LINE=$line ${words[1]} __complete 2>/dev/null)}")
    for c in "${cands[@]}"; do
        [[ -z $c ]] && continue
        if [[ $c == *[:/=] ]]; then
            compadd -S '' -- "$c"
        else
            compadd -- "$c"
        fi
    done
}
# When autoloaded from $fpath, complete now; when sourced, compdef is enough.
if [[ $funcstack[1] == _qxfer ]]; then
    _qxfer "$@"
fi
`,
	"fish": `# fish completion for qxfer: qxfer completion fish > ~/.config/fish/completions/qxfer.fish
function __qxfer_complete
    env COMP_LINE=(commandline -cp) qxfer __complete 2>/dev/null
end
complete -c qxfer -f -a '(__qxfer_complete)'
`,
}

// runComplete answers one completion request from $COMP_LINE.
func runComplete(stdout, stderr io.Writer) int {
	line := os.Getenv("COMP_LINE")
	if p, err := strconv.Atoi(os.Getenv("COMP_POINT")); err == nil && p >= 0 && p < len(line) {
		line = line[:p]
	}
	words, cur := splitLine(line)
	parser, err := newParser(&cli{}, io.Discard, io.Discard)
	if err != nil {
		fmt.Fprintln(stderr, "qxfer:", err)
		return exitFailed
	}
	var aliases []string
	if len(words) > 0 {
		if home, err := preHome(words[1:], os.Getenv); err == nil {
			aliases = readConfigFile(home).aliases()
		}
	}
	for _, c := range completeWords(parser.Model, words, cur, aliases, listFiles) {
		fmt.Fprintln(stdout, c)
	}
	return exitOK
}

// splitLine splits a shell command line into the finished words and the
// word under the cursor (the line's end), honouring quotes and backslashes
// roughly as a shell does. An unfinished quote belongs to the current word.
func splitLine(line string) (words []string, cur string) {
	var b strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else if c == '\\' && quote == '"' && i+1 < len(line) {
				i++
				b.WriteByte(line[i])
			} else {
				b.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == '\\':
			inWord = true
			if i+1 < len(line) {
				i++
				b.WriteByte(line[i])
			}
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, b.String())
				b.Reset()
				inWord = false
			}
		default:
			inWord = true
			b.WriteByte(c)
		}
	}
	return words, b.String()
}

// completeWords returns the candidates for cur after words (words[0] is
// the program), sorted and without duplicates.
func completeWords(app *kong.Application, words []string, cur string, aliases []string, files func(string) []string) []string {
	node := app.Node
	positional := 0
	dashdash := false
	var want *kong.Flag // the flag whose value is the next word
	for _, w := range words[min(1, len(words)):] {
		switch {
		case want != nil:
			want = nil
		case dashdash:
			positional++
		case w == "--":
			dashdash = true
		case strings.HasPrefix(w, "--"):
			name, _, eq := strings.Cut(w[2:], "=")
			if f := findFlag(node, name, 0); f != nil && !eq && !f.IsBool() && !f.IsCounter() {
				want = f
			}
		case strings.HasPrefix(w, "-") && len(w) > 1:
			// A cluster of short flags; a value flag takes the rest, or
			// the next word when it ends the cluster.
			for i, r := range w[1:] {
				f := findFlag(node, "", r)
				if f == nil || f.IsBool() || f.IsCounter() {
					continue
				}
				if i == len(w)-2 {
					want = f
				}
				break
			}
		default:
			if positional == 0 {
				if ch := findChild(node, w); ch != nil {
					node = ch
					continue
				}
			}
			positional++
		}
	}

	var cands []string
	switch {
	case want != nil:
		cands = valueCandidates(want.Value, "", cur, aliases, files)
	case !dashdash && strings.HasPrefix(cur, "--") && strings.Contains(cur, "="):
		name, _, _ := strings.Cut(cur[2:], "=")
		if f := findFlag(node, name, 0); f != nil {
			prefix := "--" + name + "="
			cands = valueCandidates(f.Value, prefix, cur, aliases, files)
		}
	case !dashdash && strings.HasPrefix(cur, "-"):
		for n := node; n != nil; n = n.Parent {
			for _, f := range n.Flags {
				if !f.Hidden {
					cands = append(cands, "--"+f.Name)
				}
			}
		}
	default:
		if positional == 0 && !dashdash {
			for _, ch := range node.Children {
				if !ch.Hidden {
					cands = append(cands, ch.Name)
				}
			}
		}
		if len(node.Positional) > 0 {
			i := min(positional, len(node.Positional)-1)
			if p := node.Positional[i]; i == positional || p.IsCumulative() {
				cands = append(cands, valueCandidates(p, "", cur, aliases, files)...)
			}
		}
	}
	return filterPrefix(cands, cur)
}

// valueCandidates completes the value of v; prefix (such as "--flag=")
// goes before each candidate.
func valueCandidates(v *kong.Value, prefix, cur string, aliases []string, files func(string) []string) []string {
	var out []string
	switch {
	case v.Enum != "":
		for _, e := range v.EnumSlice() {
			out = append(out, prefix+e)
		}
	case v.IsBool():
	case v.Tag.Get("predictor") == "host":
		for _, a := range aliases {
			out = append(out, a+":")
		}
	case v.Tag.Get("predictor") == "remote":
		for _, a := range aliases {
			out = append(out, a+":")
		}
		out = append(out, files(cur)...)
	case v.Flag == nil || v.Tag.Get("type") == "path" || v.Flag.PlaceHolder == "DIR":
		// Positional arguments are local paths unless tagged otherwise;
		// so are flags whose placeholder is DIR (--home, --root).
		for _, f := range files(strings.TrimPrefix(cur, prefix)) {
			out = append(out, prefix+f)
		}
	}
	return out
}

func findFlag(node *kong.Node, long string, short rune) *kong.Flag {
	for n := node; n != nil; n = n.Parent {
		for _, f := range n.Flags {
			if (long != "" && (f.Name == long || containsString(f.Aliases, long))) || (short != 0 && f.Short == short) {
				return f
			}
		}
	}
	return nil
}

func findChild(node *kong.Node, name string) *kong.Node {
	for _, ch := range node.Children {
		if ch.Name == name || containsString(ch.Aliases, name) {
			return ch
		}
	}
	return nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// filterPrefix keeps the candidates that start with cur, sorted, once each.
func filterPrefix(cands []string, cur string) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range cands {
		if strings.HasPrefix(c, cur) && !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return out
}

// listFiles returns the local paths that complete cur: entries of cur's
// directory whose names start with the rest of cur, directories with a
// trailing '/'. Hidden files only when cur's last element starts with '.'.
func listFiles(cur string) []string {
	dir, base := "", cur
	if i := strings.LastIndexByte(cur, '/'); i >= 0 {
		dir, base = cur[:i+1], cur[i+1:]
	}
	read := dir
	if read == "" {
		read = "."
	}
	ents, err := os.ReadDir(read)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, base) || (strings.HasPrefix(name, ".") && !strings.HasPrefix(base, ".")) {
			continue
		}
		p := dir + name
		if e.IsDir() {
			p += "/"
		} else if e.Type()&os.ModeSymlink != 0 {
			if fi, err := os.Stat(filepath.Join(read, name)); err == nil && fi.IsDir() {
				p += "/"
			}
		}
		out = append(out, p)
		if len(out) == maxFileCandidates {
			break
		}
	}
	return out
}

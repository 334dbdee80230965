package main

import (
	"context"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/qxfer/qxfer/session"
)

// Tab completion of commands and of remote and local paths. Remote names
// come from the listings the session already has: every ls, wildcard and
// cd stores the listing it fetched (cd fetches the new directory's), and
// a command that changes a remote directory drops that directory's. Only
// a directory never listed is fetched, once, when Tab asks for it.

// completeTimeout bounds the fetch of a listing for Tab.
const completeTimeout = 3 * time.Second

// listDir lists remote directory dir and keeps the listing for
// completion.
func (sh *shell) listDir(ctx context.Context, dir string) ([]session.Entry, error) {
	ents, err := sh.c.List(ctx, dir)
	if err != nil {
		return nil, err
	}
	if len(ents) == 1 && !ents[0].IsDir() && ents[0].Name == path.Base(dir) {
		// Most likely dir is a file, which List describes alone.
		return ents, nil
	}
	sh.mu.Lock()
	sh.listed[dir] = ents
	sh.mu.Unlock()
	return ents, nil
}

// forget drops the kept listing of remote directory dir.
func (sh *shell) forget(dir string) {
	sh.mu.Lock()
	delete(sh.listed, dir)
	sh.mu.Unlock()
}

// cachedList returns the kept listing of remote directory dir, fetching
// it if there is none.
func (sh *shell) cachedList(ctx context.Context, dir string) []session.Entry {
	sh.mu.Lock()
	ents, ok := sh.listed[dir]
	sh.mu.Unlock()
	if ok {
		return ents
	}
	ctx, cancel := context.WithTimeout(ctx, completeTimeout)
	defer cancel()
	ents, _ = sh.listDir(ctx, dir)
	return ents
}

// shellCommands are the command names Tab completes.
var shellCommands = []string{
	"bye", "cancel", "cd", "df", "exit", "get", "help", "jobs", "lcd", "lls", "lmkdir",
	"lpwd", "ls", "mkdir", "put", "pwd", "quit", "rename", "rm", "rmdir", "wait",
}

// remoteArg tells, for a command and the index of an argument (0 for the
// first), whether the argument is a remote path (true), a local one
// (false), or neither (ok false).
func remoteArg(cmd string, i int) (remote, ok bool) {
	switch cmd {
	case "ls", "cd", "mkdir", "rmdir", "rm", "rename", "df":
		return true, true
	case "lls", "lcd", "lmkdir":
		return false, true
	case "get":
		return i == 0, true
	case "put":
		return i != 0, true
	}
	return false, false
}

// complete completes the word that ends at pos in line: a command name,
// or a remote or local path as the command takes it. It returns the new
// line and position, and false when it has nothing to add. One candidate
// is completed in full (a directory with "/", anything else with a
// blank); several, as far as they agree.
func (sh *shell) complete(ctx context.Context, line string, pos int) (string, int, bool) {
	head, tail := line[:pos], line[pos:]
	start := wordStart(head)
	words, err := splitWords(head[:start])
	if err != nil {
		return "", 0, false
	}
	cur, err := splitWords(head[start:] + closingQuote(head[start:]))
	if err != nil {
		return "", 0, false
	}
	partial := ""
	if len(cur) == 1 {
		partial = cur[0].lit
	}
	var cands []string
	var dirs map[string]bool
	if len(words) == 0 {
		for _, c := range shellCommands {
			if strings.HasPrefix(c, partial) {
				cands = append(cands, c)
			}
		}
	} else {
		remote, ok := remoteArg(words[0].lit, len(words)-1)
		if !ok {
			return "", 0, false
		}
		cands, dirs = sh.pathCandidates(ctx, partial, remote)
	}
	if len(cands) == 0 {
		return "", 0, false
	}
	repl := commonPrefix(cands)
	if len(cands) == 1 {
		if dirs[repl] {
			repl += "/"
		} else {
			repl += " "
		}
	}
	if repl == partial {
		return "", 0, false
	}
	word := escapeWord(strings.TrimSuffix(repl, " "))
	if strings.HasSuffix(repl, " ") {
		word += " "
	}
	return head[:start] + word + tail, start + len(word), true
}

// pathCandidates lists the completions of partial, a path on the remote
// or local side, as the user would write them; dirs says which are
// directories.
func (sh *shell) pathCandidates(ctx context.Context, partial string, remote bool) ([]string, map[string]bool) {
	dirPart, base := "", partial
	if i := strings.LastIndex(partial, "/"); i >= 0 {
		dirPart, base = partial[:i+1], partial[i+1:]
	}
	var ents []session.Entry
	if remote {
		ents = sh.cachedList(ctx, sh.remotePath(dirPart))
	} else {
		ents, _ = listLocal(ctx, sh.localPath(filepath.FromSlash(dirPart)))
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name < ents[j].Name })
	var out []string
	dirs := map[string]bool{}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name, base) || (strings.HasPrefix(e.Name, ".") && !strings.HasPrefix(base, ".")) {
			continue
		}
		c := dirPart + e.Name
		out = append(out, c)
		if e.IsDir() {
			dirs[c] = true
		}
	}
	return out, dirs
}

// wordStart returns where the last word of line starts: after the last
// blank that is neither quoted nor escaped, or len(line) after a blank.
func wordStart(line string) int {
	start, _, _ := scanLine(line)
	return start
}

// closingQuote returns the quote that a word still inside quotes needs
// to be complete, or "".
func closingQuote(w string) string {
	_, quote, escaped := scanLine(w)
	if escaped || quote == 0 {
		return ""
	}
	return string(quote)
}

// scanLine reads line as splitWords does: it returns where its last word
// starts, the quote still open at its end (0 if none), and whether it
// ends in a backslash.
func scanLine(line string) (start int, quote rune, escaped bool) {
	for i, r := range line {
		switch {
		case escaped:
			escaped = false
		case r == '\\':
			escaped = true
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '"' || r == '\'':
			quote = r
		case r == ' ' || r == '\t':
			start = i + 1
		}
	}
	return start, quote, escaped
}

// escapeWord writes a name so that splitWords reads it back as itself:
// blanks, quotes, backslashes and wildcards behind a backslash.
func escapeWord(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(" \t\"'\\*?[]", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// commonPrefix returns the longest prefix all of ss share, cut back to
// a whole UTF-8 character.
func commonPrefix(ss []string) string {
	p := ss[0]
	for _, s := range ss[1:] {
		for !strings.HasPrefix(s, p) {
			p = p[:len(p)-1]
		}
	}
	for len(p) > 0 {
		if r, size := utf8.DecodeLastRuneInString(p); r != utf8.RuneError || size != 1 {
			break
		}
		p = p[:len(p)-1]
	}
	return p
}

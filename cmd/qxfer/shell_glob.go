package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/qxfer/qxfer/session"
)

// Wildcards are matched with the standard library's path.Match, one path
// element at a time, against the names of the side that holds the files:
// the server's listing for remote paths, the local directory for local
// ones. path.Match has what sftp's glob(3) has (`*`, `?`, `[...]`, `\`
// escapes) and reads a pattern the same on every system, unlike
// filepath.Match, for which a backslash is a separator on Windows; `**`
// and braces, which a library such as doublestar would add, sftp does not
// have either.

// match is one path a word stands for.
type match struct {
	path  string         // resolved: remote, relative to the root; local, absolute
	shown string         // as the user wrote it, wildcards replaced by names
	ent   *session.Entry // the remote listing's entry, if a wildcard found it
}

// errNoMatch is the error of a wildcard that matches nothing.
var errNoMatch = errors.New("no such file or directory")

// globber lists one directory of one side: the names in it, and for the
// remote side their entries.
type globber func(ctx context.Context, dir string) ([]session.Entry, error)

// expand resolves a word with a wildcard into every existing path it
// matches, sorted, or fails with errNoMatch. join
// resolves a name under a directory on the side concerned (start is
// where a relative pattern starts, root where an absolute one does). As
// in a shell, a wildcard does not match a name that starts with a dot
// unless the pattern's element does too.
func expand(ctx context.Context, w word, start, root string, join func(dir, name string) string, list globber) ([]match, error) {
	dir, shown := start, ""
	pat := w.pat
	if strings.HasPrefix(pat, "/") {
		dir, shown = root, "/"
		pat = strings.TrimLeft(pat, "/")
	}
	cur := []match{{path: dir, shown: shown}}
	elems := strings.Split(pat, "/")
	for i, el := range elems {
		if el == "" {
			continue
		}
		last := i == len(elems)-1
		var next []match
		if !hasWild(el) {
			name := unescape(el)
			for _, m := range cur {
				next = append(next, match{path: join(m.path, name), shown: m.shown + name + slashIf(!last)})
			}
			cur = next
			continue
		}
		if _, err := path.Match(el, ""); err != nil {
			return nil, fmt.Errorf("%s: bad pattern", w.lit)
		}
		for _, m := range cur {
			ents, err := list(ctx, m.path)
			if err != nil {
				if ctx.Err() != nil {
					return nil, err
				}
				continue // not a directory, or gone: it holds no match
			}
			sort.Slice(ents, func(i, j int) bool { return ents[i].Name < ents[j].Name })
			for _, e := range ents {
				if strings.HasPrefix(e.Name, ".") && !strings.HasPrefix(el, ".") && !strings.HasPrefix(el, `\.`) {
					continue
				}
				if ok, _ := path.Match(el, e.Name); !ok || (!last && !e.IsDir()) {
					continue
				}
				e := e
				next = append(next, match{path: join(m.path, e.Name), shown: m.shown + e.Name + slashIf(!last), ent: &e})
			}
		}
		cur = next
	}
	if len(cur) == 0 {
		return nil, fmt.Errorf("%s: %w", w.lit, errNoMatch)
	}
	return cur, nil
}

func slashIf(b bool) string {
	if b {
		return "/"
	}
	return ""
}

// hasWild reports whether a pattern element has an unescaped wildcard.
func hasWild(el string) bool {
	for i := 0; i < len(el); i++ {
		switch el[i] {
		case '\\':
			i++
		case '*', '?', '[':
			return true
		}
	}
	return false
}

// unescape removes the backslashes of a pattern element without wildcards.
func unescape(el string) string {
	var b strings.Builder
	for i := 0; i < len(el); i++ {
		if el[i] == '\\' && i+1 < len(el) {
			i++
		}
		b.WriteByte(el[i])
	}
	return b.String()
}

// remoteGlob expands a word naming remote paths, against the server's
// listings.
func (sh *shell) remoteGlob(ctx context.Context, w word) ([]match, error) {
	if !w.glob {
		return []match{{path: sh.remotePath(w.lit), shown: w.lit}}, nil
	}
	return expand(ctx, w, sh.cwd, ".", func(dir, name string) string { return trimRoot(path.Join(dir, name)) }, sh.listDir)
}

// localGlob expands a word naming local paths, against the local
// directories.
func (sh *shell) localGlob(ctx context.Context, w word) ([]match, error) {
	if !w.glob {
		return []match{{path: sh.localPath(w.lit), shown: w.lit}}, nil
	}
	root := filepath.VolumeName(sh.lcwd) + string(filepath.Separator)
	return expand(ctx, w, sh.lcwd, root, func(dir, name string) string { return filepath.Join(dir, name) }, listLocal)
}

// listLocal lists a local directory as entries.
func listLocal(_ context.Context, dir string) ([]session.Entry, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make([]session.Entry, 0, len(des))
	for _, de := range des {
		e := session.Entry{Name: de.Name(), Kind: session.KindFile}
		if fi, err := os.Stat(filepath.Join(dir, de.Name())); err == nil {
			e = localEntry(de.Name(), fi)
		}
		out = append(out, e)
	}
	return out, nil
}

// localEntry describes a local file as a remote entry is described.
func localEntry(name string, fi os.FileInfo) session.Entry {
	return session.Entry{Name: name, Kind: session.KindOf(fi.Mode()), Size: fi.Size(), Mode: fi.Mode().Perm(), MTime: fi.ModTime()}
}

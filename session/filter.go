package session

import (
	"errors"
	"fmt"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// FilterRule is one --include or --exclude pattern, in rsync's pattern
// syntax (rsync(1), "INCLUDE/EXCLUDE PATTERN RULES"):
//
//   - A pattern that starts with "/" is anchored at the top of the
//     transferred tree (the directory named as a source): "/build"
//     matches SRC/build only.
//   - Any other pattern matches at any depth, against the end of the
//     path: "*.o" matches every .o file, "cache/tmp" matches a/cache/tmp.
//   - A trailing "/" matches directories only: "node_modules/".
//   - "*" and "?" match within one path element; "**" as a whole element
//     matches any number of elements ("/a/**/z"); "[...]" and "{a,b}" as
//     in github.com/bmatcuk/doublestar/v4, which does the matching.
type FilterRule struct {
	// Include is true for --include, false for --exclude.
	Include bool
	// Pattern is the pattern as given.
	Pattern string
}

// Filter decides which entries of a walked tree take part in a
// transfer. Rules are tried in the order given and the first one that
// matches decides (rsync's order, not gitignore's last-match-wins); an
// entry no rule matches is included. An excluded directory is not
// walked, so nothing under it is included whatever later rules say, and
// it is neither listed nor read. The zero value and nil include
// everything. A Filter is immutable and safe for concurrent use.
type Filter struct {
	rules []rule
}

type rule struct {
	include bool
	dirOnly bool
	glob    string // the doublestar pattern matched against the tree-relative path
}

// ErrBadPattern is the error of NewFilter for a pattern that cannot be
// matched (an unclosed "[" or "{", an empty pattern).
var ErrBadPattern = errors.New("bad filter pattern")

// NewFilter compiles rules. It returns an error wrapping ErrBadPattern,
// naming the pattern, for one that is empty or not valid.
func NewFilter(rules []FilterRule) (*Filter, error) {
	f := &Filter{}
	for _, r := range rules {
		p := r.Pattern
		var c rule
		c.include = r.Include
		if strings.HasSuffix(p, "/") {
			c.dirOnly = true
			p = strings.TrimRight(p, "/")
		}
		anchored := strings.HasPrefix(p, "/")
		p = strings.TrimLeft(p, "/")
		if p == "" {
			return nil, fmt.Errorf("%w %q: empty", ErrBadPattern, r.Pattern)
		}
		if !anchored {
			p = "**/" + p
		}
		if !doublestar.ValidatePattern(p) {
			return nil, fmt.Errorf("%w %q", ErrBadPattern, r.Pattern)
		}
		c.glob = p
		f.rules = append(f.rules, c)
	}
	return f, nil
}

// Empty reports whether f has no rules (it includes everything).
func (f *Filter) Empty() bool { return f == nil || len(f.rules) == 0 }

// Excluded reports whether the entry at rel, a clean slash-separated
// path relative to the top of the tree ("a/b.txt"), is left out; dir
// says whether it is a directory. The top itself (".") is never
// excluded.
func (f *Filter) Excluded(rel string, dir bool) bool {
	if f.Empty() || rel == "." || rel == "" {
		return false
	}
	for _, r := range f.rules {
		if r.dirOnly && !dir {
			continue
		}
		// Patterns were validated by NewFilter, so Match cannot fail.
		if ok, _ := doublestar.Match(r.glob, rel); ok {
			return !r.include
		}
	}
	return false
}

// relTo is the path p relative to top, both clean slash-separated paths
// with p at or under top.
func relTo(top, p string) string {
	if top == "." {
		return p
	}
	if p == top {
		return "."
	}
	return strings.TrimPrefix(p, top+"/")
}

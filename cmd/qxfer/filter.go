package main

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/alecthomas/kong"

	"github.com/qxfer/qxfer/session"
)

// filterSeq numbers the --include, --exclude and --exclude-from flags in
// the order the command line gives them: rules apply first match first
// (rsync's order), so their order across the three flags matters, and
// kong keeps each flag's values in a field of its own.
var filterSeq atomic.Int64

// filterArg is one occurrence of a filter flag.
type filterArg struct {
	seq   int64
	value string
}

// filterFlag collects the values of one filter flag with their position
// on the command line.
type filterFlag []filterArg

// Decode implements kong.MapperValue: it appends one value, numbered.
func (f *filterFlag) Decode(ctx *kong.DecodeContext) error {
	var v string
	if err := ctx.Scan.PopValueInto("pattern", &v); err != nil {
		return err
	}
	*f = append(*f, filterArg{seq: filterSeq.Add(1), value: v})
	return nil
}

// filterFlags are the filter flags of push and pull.
type filterFlags struct {
	Exclude     filterFlag `name:"exclude" placeholder:"PATTERN" help:"Leave out what matches PATTERN inside a tree (rsync syntax: /anchored, **, dir/); repeatable; the first --include/--exclude that matches decides."`
	Include     filterFlag `name:"include" placeholder:"PATTERN" help:"Keep what matches PATTERN even if a later --exclude matches it; repeatable."`
	ExcludeFrom filterFlag `name:"exclude-from" placeholder:"FILE" help:"Read exclude patterns from FILE, one a line (blank lines and lines starting with # or ; are ignored; '+ PATTERN' includes, '- PATTERN' excludes)."`
}

// filter compiles the filter flags, in command-line order, into a
// session.Filter (nil when none is given). A pattern that cannot be
// matched or an unreadable --exclude-from file is a usage error.
func (f *filterFlags) filter() (*session.Filter, error) {
	type ordered struct {
		seq   int64
		rules []session.FilterRule
	}
	var all []ordered
	for _, a := range f.Exclude {
		all = append(all, ordered{a.seq, []session.FilterRule{{Pattern: a.value}}})
	}
	for _, a := range f.Include {
		all = append(all, ordered{a.seq, []session.FilterRule{{Include: true, Pattern: a.value}}})
	}
	for _, a := range f.ExcludeFrom {
		rules, err := readExcludeFrom(a.value)
		if err != nil {
			return nil, withExit(exitUsage, err)
		}
		all = append(all, ordered{a.seq, rules})
	}
	if len(all) == 0 {
		return nil, nil
	}
	slices.SortFunc(all, func(a, b ordered) int { return cmp.Compare(a.seq, b.seq) })
	var rules []session.FilterRule
	for _, o := range all {
		rules = append(rules, o.rules...)
	}
	flt, err := session.NewFilter(rules)
	if err != nil {
		return nil, withExit(exitUsage, err, "patterns follow rsync: /anchored, *, **, [abc], a trailing / for directories")
	}
	return flt, nil
}

// readExcludeFrom reads the rules of an --exclude-from file, as rsync
// does: one pattern a line, blank lines and lines starting with "#" or
// ";" ignored, "+ " and "- " prefixes making a line an include or an
// exclude (plain lines exclude). "-" reads standard input.
func readExcludeFrom(name string) ([]session.FilterRule, error) {
	var data []byte
	var err error
	if name == "-" {
		data, err = readAllStdin()
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, fmt.Errorf("--exclude-from: %w", err)
	}
	var rules []session.FilterRule
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case strings.TrimSpace(line) == "", strings.HasPrefix(line, "#"), strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "+ "):
			rules = append(rules, session.FilterRule{Include: true, Pattern: line[2:]})
		case strings.HasPrefix(line, "- "):
			rules = append(rules, session.FilterRule{Pattern: line[2:]})
		default:
			rules = append(rules, session.FilterRule{Pattern: line})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--exclude-from %s: %w", name, err)
	}
	return rules, nil
}

func readAllStdin() ([]byte, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(os.Stdin)
	return b.Bytes(), err
}

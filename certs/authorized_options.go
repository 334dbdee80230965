package certs

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// ClientAccess is what one authorized_clients line grants its client. The
// zero value is a line without options: the whole server root, read and
// write, no quota, no connection limit of its own.
type ClientAccess struct {
	// Label is the line's comment, naming the client in logs; "" when
	// the line has none.
	Label string
	// Root (option root=DIR) is the client's directory, slash-separated,
	// clean and relative to the server's --root; "" is the whole root.
	Root string
	// ReadOnly (option read-only) refuses every change: push, mkdir,
	// remove, rename.
	ReadOnly bool
	// WriteOnly (option write-only) makes a drop box: push and mkdir
	// only; listing, stat, pull, remove and rename are refused.
	WriteOnly bool
	// Quota (option quota=SIZE) is the bytes the client may store under
	// Root; 0 is no quota.
	Quota int64
	// MaxConnections (option max-connections=N) bounds the client's
	// connections open at once; 0 is no limit of its own.
	MaxConnections int
}

// OptionError says why a line's options refuse its client: the option is
// unknown, malformed, repeated or contradicts another. Only that line's
// client is refused; the other lines keep working.
type OptionError struct {
	File   string // the file's path; "" when parsed from a reader
	Line   int    // 1-based
	Option string // the offending option as written
	Reason string
}

func (e *OptionError) Error() string {
	pos := fmt.Sprintf("line %d", e.Line)
	if e.File != "" {
		pos = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	return fmt.Sprintf("%s: option %q: %s", pos, e.Option, e.Reason)
}

// parseOptions reads the OPTIONS word of a line: comma-separated options,
// as in OpenSSH's authorized_keys, each at most once. It returns the
// access they grant, or the first offending option and why. There is no
// quoting: a root= directory cannot hold whitespace or commas.
func parseOptions(word string) (acc ClientAccess, bad, reason string) {
	seen := map[string]bool{}
	for _, opt := range strings.Split(word, ",") {
		name, value, hasValue := strings.Cut(opt, "=")
		if seen[name] {
			return ClientAccess{}, opt, "given twice"
		}
		seen[name] = true
		switch name {
		case "read-only", "write-only":
			if hasValue {
				return ClientAccess{}, opt, "takes no value"
			}
			acc.ReadOnly = acc.ReadOnly || name == "read-only"
			acc.WriteOnly = acc.WriteOnly || name == "write-only"
			if acc.ReadOnly && acc.WriteOnly {
				return ClientAccess{}, opt, "read-only and write-only together leave nothing"
			}
			continue
		case "root", "quota", "max-connections":
			if !hasValue || value == "" {
				return ClientAccess{}, opt, "needs a value (" + name + "=...)"
			}
		case "":
			return ClientAccess{}, opt, "empty option"
		default:
			return ClientAccess{}, opt, "unknown option"
		}
		switch name {
		case "root":
			r, why := cleanRoot(value)
			if why != "" {
				return ClientAccess{}, opt, why
			}
			acc.Root = r
		case "quota":
			n, err := ParseSize(value)
			if err != nil || n == 0 {
				return ClientAccess{}, opt, "want a size of at least one byte, such as 500M or 2G"
			}
			acc.Quota = n
		case "max-connections":
			n, err := strconv.Atoi(value)
			if err != nil || n < 1 {
				return ClientAccess{}, opt, "want a whole number of at least 1"
			}
			acc.MaxConnections = n
		}
	}
	return acc, "", ""
}

// cleanRoot checks a root= directory: relative to the server root, no
// ".." element, no backslash or NUL. "." or "" elements are dropped; the
// root itself is "".
func cleanRoot(dir string) (string, string) {
	switch {
	case strings.HasPrefix(dir, "/"):
		return "", "must be relative to the server's --root"
	case strings.ContainsAny(dir, "\\\x00"):
		return "", "must not contain a backslash or NUL"
	}
	for _, el := range strings.Split(dir, "/") {
		if el == ".." {
			return "", "must not contain .."
		}
	}
	c := path.Clean(dir)
	if c == "." {
		c = ""
	}
	return c, ""
}

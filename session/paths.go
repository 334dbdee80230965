package session

import (
	"path"
	"strings"
	"unicode/utf8"

	"github.com/qxfer/qxfer/session/internal/xfer"
)

// Path limits. Names longer than most file systems allow are refused
// before they reach one.
const (
	maxPathLen = 4096
	maxNameLen = 255
)

// cleanPath validates a path received from the peer and returns it in the
// canonical form used as an os.Root name and as the transfer-table key:
// slash-separated, relative, without "." or empty elements; "." is the root
// itself. It refuses, with CodeInvalidPath: absolute paths, any ".." element
// (even one that would stay inside), NUL bytes, backslashes (a separator on
// Windows, so refused everywhere for one behaviour) and invalid UTF-8; and
// with CodeNameTooLong paths over maxPathLen bytes or names over
// maxNameLen. Symlinks are checked later by os.Root itself.
func cleanPath(p string) (string, error) {
	switch {
	case len(p) > maxPathLen:
		return "", xfer.Errorf(CodeNameTooLong, truncate(p), "path longer than %d bytes", maxPathLen)
	case !utf8.ValidString(p):
		return "", xfer.Errorf(CodeInvalidPath, truncate(p), "path is not valid UTF-8")
	case strings.ContainsRune(p, 0):
		return "", xfer.Errorf(CodeInvalidPath, truncate(p), "path contains a NUL byte")
	case strings.ContainsRune(p, '\\'):
		return "", xfer.Errorf(CodeInvalidPath, p, "path contains a backslash")
	case strings.HasPrefix(p, "/"):
		return "", xfer.Errorf(CodeInvalidPath, p, "absolute paths are not allowed")
	}
	// Checked in place first: a clean path, as a tree walk makes them,
	// is returned as it is, without allocating.
	clean := true
	for rest, more := p, true; more; {
		var el string
		el, rest, more = strings.Cut(rest, "/")
		switch el {
		case "", ".":
			clean = false
		case "..":
			return "", xfer.Errorf(CodeInvalidPath, p, "path contains ..")
		}
		if len(el) > maxNameLen {
			return "", xfer.Errorf(CodeNameTooLong, truncate(p), "name longer than %d bytes", maxNameLen)
		}
	}
	if clean {
		return p, nil
	}
	var parts []string
	for _, el := range strings.Split(p, "/") {
		if el != "" && el != "." {
			parts = append(parts, el)
		}
	}
	if len(parts) == 0 {
		return ".", nil
	}
	return strings.Join(parts, "/"), nil
}

// errNotUTF8 is the reason a local name that is not valid UTF-8 is
// refused before it reaches the wire, where every path is UTF-8
// (PROTOCOL.md): the local path itself is used exactly as given.
const errNotUTF8 = "the name is not valid UTF-8, and names that cross the wire must be (rename it)"

// checkWireName refuses the local path local when remote, the path it
// would have on the server, is not valid UTF-8. The error names the local
// path, the one the user can rename.
func checkWireName(local, remote string) error {
	if utf8.ValidString(remote) {
		return nil
	}
	return xfer.Errorf(CodeInvalidPath, local, errNotUTF8)
}

// cleanName validates a single directory entry name from a listing: it must
// be a clean path of exactly one element.
func cleanName(name string) (string, error) {
	c, err := cleanPath(name)
	if err != nil {
		return "", err
	}
	if c == "." || strings.Contains(c, "/") || c != name {
		return "", xfer.Errorf(CodeInvalidPath, truncate(name), "not a plain file name")
	}
	return c, nil
}

// splitRemote splits the remote path p into its directory, clean ("."
// for a name at the root), and its last name: path.Split then joinPath,
// without allocating when p is clean (issue 17: a no-op push of the
// kernel tree split each of its 86,629 paths twice).
func splitRemote(p string) (dir, name string) {
	return path.Dir(p), p[strings.LastIndexByte(p, '/')+1:]
}

// joinPath joins clean relative paths, treating "." as empty.
func joinPath(elem ...string) string {
	p := path.Join(elem...)
	if p == "" {
		return "."
	}
	return p
}

func truncate(s string) string {
	if len(s) <= 64 {
		return s
	}
	return s[:61] + "..."
}

package certs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"unicode"
)

// AuthorizedClients is a parsed authorized_clients file: the client
// fingerprints a server accepts and what each may do. The zero value
// authorizes nobody.
type AuthorizedClients struct {
	name string // the file's path, for errors; "" when parsed from a reader
	// entries in file order, duplicates included.
	entries []authorizedEntry
	set     map[Fingerprint]int // index in entries of the fingerprint's first line
}

// authorizedEntry is one line of authorized_clients.
type authorizedEntry struct {
	fp      Fingerprint
	opts    string // the OPTIONS word as written; "" when none
	comment string // free text after the fingerprint, trimmed; may be empty
	line    int
	access  ClientAccess // what opts grant, Label = comment
	// bad is the option that refuses this line's client and reason why;
	// "" when opts are fine.
	bad, reason string
}

// ErrNotListed is returned by Lookup for a fingerprint on no line.
var ErrNotListed = errors.New("not listed in authorized_clients")

// ParseAuthorizedClients parses authorized_clients content. A line is
//
//	[OPTIONS] FINGERPRINT [COMMENT]
//
// FINGERPRINT in any form [ParseFingerprint] accepts; OPTIONS, as in
// OpenSSH's authorized_keys, one comma-separated word of root=DIR,
// read-only, write-only, quota=SIZE and max-connections=N (see
// [ClientAccess]); COMMENT free text, the client's label in logs. A line
// is read as having options when its first word is not a fingerprint and
// its second is. Lines starting with '#' and blank lines are ignored. A
// line that holds no fingerprint is an error naming its line number; a
// line whose options are unknown or malformed only refuses its own client
// (Lookup returns an [*OptionError]). A fingerprint on several lines is
// governed by its first, as sshd uses the first matching key.
func ParseAuthorizedClients(r io.Reader) (*AuthorizedClients, error) {
	return parseAuthorizedClients(r, "")
}

// parseAuthorizedClients is ParseAuthorizedClients with name used in error
// positions.
func parseAuthorizedClients(r io.Reader, name string) (*AuthorizedClients, error) {
	a := &AuthorizedClients{name: name, set: make(map[Fingerprint]int)}
	err := scanLines(r, name, func(n int, line string) error {
		e, err := parseAuthorizedLine(line)
		if err != nil {
			return err
		}
		e.line = n
		if _, ok := a.set[e.fp]; !ok {
			a.set[e.fp] = len(a.entries)
		}
		a.entries = append(a.entries, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// parseAuthorizedLine reads one trimmed, non-comment line.
func parseAuthorizedLine(line string) (authorizedEntry, error) {
	first, rest := splitWord(line)
	fp, err := ParseFingerprint(first)
	if err == nil {
		return authorizedEntry{fp: fp, comment: rest, access: ClientAccess{Label: rest}}, nil
	}
	second, comment := splitWord(rest)
	fp, err2 := ParseFingerprint(second)
	if second == "" || err2 != nil {
		return authorizedEntry{}, err // the first word was meant as the fingerprint
	}
	e := authorizedEntry{fp: fp, opts: first, comment: comment}
	e.access, e.bad, e.reason = parseOptions(first)
	e.access.Label = comment
	return e, nil
}

// splitWord splits s at its first run of white space.
func splitWord(s string) (word, rest string) {
	i := strings.IndexFunc(s, unicode.IsSpace)
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i:])
}

// Lookup returns what fp may do: the access of its first line, an
// [*OptionError] when that line's options refuse it, or ErrNotListed.
func (a *AuthorizedClients) Lookup(fp Fingerprint) (ClientAccess, error) {
	if a == nil {
		return ClientAccess{}, ErrNotListed
	}
	i, ok := a.set[fp]
	if !ok {
		return ClientAccess{}, ErrNotListed
	}
	e := a.entries[i]
	if e.bad != "" || e.reason != "" {
		return ClientAccess{}, &OptionError{File: a.name, Line: e.line, Option: e.bad, Reason: e.reason}
	}
	return e.access, nil
}

// Contains reports whether fp is authorized: listed, and its options
// valid.
func (a *AuthorizedClients) Contains(fp Fingerprint) bool {
	_, err := a.Lookup(fp)
	return err == nil
}

// Len returns the number of distinct fingerprints listed, including those
// whose options refuse them.
func (a *AuthorizedClients) Len() int {
	if a == nil {
		return 0
	}
	return len(a.set)
}

// AuthorizedFile is an authorized_clients file that is re-read whenever it
// changes (different size, modification time or inode), so authorizing a
// client does not need a server restart. A missing file authorizes nobody.
// It is safe for concurrent use.
type AuthorizedFile struct {
	path string

	// mu guards the following fields
	mu      sync.Mutex
	clients *AuthorizedClients // nil: not loaded, or file missing
	info    fs.FileInfo        // stat of the file clients was read from
}

// NewAuthorizedFile returns an AuthorizedFile for path. The file is first
// read by Allowed.
func NewAuthorizedFile(path string) *AuthorizedFile {
	return &AuthorizedFile{path: path}
}

// Path returns the file's path.
func (f *AuthorizedFile) Path() string {
	return f.path
}

// Allowed reports whether fp is listed in the file with valid options,
// re-reading the file if it has changed since the last call. A missing
// file gives false and no error; a malformed file gives an error naming the
// file and line, and the file is read again on the next call.
func (f *AuthorizedFile) Allowed(fp Fingerprint) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.refresh(); err != nil {
		return false, err
	}
	return f.clients.Contains(fp), nil
}

// Lookup is [AuthorizedClients.Lookup] on the file as it is now,
// re-reading it if it has changed: ErrNotListed (also when the file is
// missing), an [*OptionError] naming the file, line and option, an error
// naming file and line for a malformed file, or fp's access.
func (f *AuthorizedFile) Lookup(fp Fingerprint) (ClientAccess, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.refresh(); err != nil {
		return ClientAccess{}, err
	}
	return f.clients.Lookup(fp)
}

// refresh re-reads the file if it changed. It must be called with mu held.
func (f *AuthorizedFile) refresh() error {
	info, err := os.Stat(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		f.clients, f.info = nil, nil
		return nil
	}
	if err != nil {
		return err
	}
	if f.info != nil && sameVersion(f.info, info) {
		return nil
	}
	file, err := os.Open(f.path)
	if errors.Is(err, fs.ErrNotExist) { // removed since the Stat
		f.clients, f.info = nil, nil
		return nil
	}
	if err != nil {
		return err
	}
	defer file.Close()
	// Cache the stat of what is actually read, in case the file was replaced
	// between the Stat and the Open.
	info, err = file.Stat()
	if err != nil {
		return err
	}
	clients, err := parseAuthorizedClients(file, f.path)
	if err != nil {
		f.clients, f.info = nil, nil
		return err
	}
	f.clients, f.info = clients, info
	return nil
}

// sameVersion reports whether a and b, stats of the same path, describe the
// same contents as far as can be told without reading: same file (inode),
// size and modification time.
func sameVersion(a, b fs.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

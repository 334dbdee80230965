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

// AuthorizedClients is a parsed authorized_clients file: the set of client
// fingerprints a server accepts. The zero value authorizes nobody.
type AuthorizedClients struct {
	// entries in file order, duplicates included.
	entries []authorizedEntry
	set     map[Fingerprint]struct{}
}

// authorizedEntry is one line of authorized_clients.
type authorizedEntry struct {
	fp      Fingerprint
	comment string // free text after the fingerprint, trimmed; may be empty
	line    int
}

// ParseAuthorizedClients parses authorized_clients content: one fingerprint
// per line (any form [ParseFingerprint] accepts), optionally followed by
// whitespace and a free-text comment. Lines starting with '#' and blank lines
// are ignored. A malformed line is an error naming its line number.
func ParseAuthorizedClients(r io.Reader) (*AuthorizedClients, error) {
	return parseAuthorizedClients(r, "")
}

// parseAuthorizedClients is ParseAuthorizedClients with name used in error
// positions.
func parseAuthorizedClients(r io.Reader, name string) (*AuthorizedClients, error) {
	a := &AuthorizedClients{set: make(map[Fingerprint]struct{})}
	err := scanLines(r, name, func(n int, line string) error {
		field, comment := line, ""
		if i := strings.IndexFunc(line, unicode.IsSpace); i >= 0 {
			field, comment = line[:i], strings.TrimSpace(line[i:])
		}
		fp, err := ParseFingerprint(field)
		if err != nil {
			return err
		}
		a.entries = append(a.entries, authorizedEntry{fp: fp, comment: comment, line: n})
		a.set[fp] = struct{}{}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// Contains reports whether fp is authorized.
func (a *AuthorizedClients) Contains(fp Fingerprint) bool {
	if a == nil {
		return false
	}
	_, ok := a.set[fp]
	return ok
}

// Len returns the number of distinct authorized fingerprints.
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

// Allowed reports whether fp is listed in the file, re-reading the file if it
// has changed since the last call. A missing file gives false and no error; a
// malformed file gives an error naming the file and line, and the file is
// read again on the next call.
func (f *AuthorizedFile) Allowed(fp Fingerprint) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.refresh(); err != nil {
		return false, err
	}
	return f.clients.Contains(fp), nil
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

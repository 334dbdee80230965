package certs

import "fmt"

// MismatchError reports that a server presented a different fingerprint than
// the one pinned for it, either in known_hosts or with --fingerprint. It may
// mean the server was reinstalled, or that someone is intercepting the
// connection.
type MismatchError struct {
	// Host is the server, "host:port" in canonical form.
	Host string
	// Want is the pinned fingerprint; Got is the one presented.
	Want, Got Fingerprint
	// File is the known_hosts file holding Want, or "" if Want came from an
	// explicit --fingerprint.
	File string
	// Line is Want's 1-based line number in File; 0 if unknown.
	Line int
}

// Error returns a one-line, lower-case description.
func (e *MismatchError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("server fingerprint for %s does not match the pinned fingerprint: want %s, got %s", e.Host, e.Want, e.Got)
	}
	return fmt.Sprintf("server fingerprint for %s changed: known %s, got %s", e.Host, e.Want, e.Got)
}

// Hint returns advice for the user, one line each, to print after Error.
func (e *MismatchError) Hint() []string {
	if e.File == "" {
		return []string{
			"check the --fingerprint value against the output of `qxfer id` on the server",
		}
	}
	remove := fmt.Sprintf("remove the line for %s from %s", e.Host, e.File)
	if e.Line > 0 {
		remove = fmt.Sprintf("remove line %d of %s", e.Line, e.File)
	}
	return []string{
		"someone may be intercepting the connection; do not continue until this is explained",
		"verify the new fingerprint with `qxfer id` on the server",
		"if the server was reinstalled, " + remove + " and connect again",
	}
}

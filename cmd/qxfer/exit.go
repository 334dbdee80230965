package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/alecthomas/kong"

	"github.com/qxfer/qxfer/certs"
	"github.com/qxfer/qxfer/session"
)

// Exit statuses. README.md documents them; scripts depend on them.
const (
	exitOK          = 0
	exitFailed      = 1 // some files failed, or a remote/local error
	exitUsage       = 2 // bad command line
	exitAuth        = 3 // fingerprint mismatch or client not authorized
	exitConnect     = 4 // could not reach the server or the session was lost
	exitInterrupted = 130
)

// exitError carries an exit status and hint lines with an error.
type exitError struct {
	code  int
	err   error
	hints []string
}

func (e *exitError) Error() string  { return e.err.Error() }
func (e *exitError) Unwrap() error  { return e.err }
func (e *exitError) ExitCode() int  { return e.code }
func (e *exitError) Hint() []string { return e.hints }

func withExit(code int, err error, hints ...string) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err, hints: hints}
}

// exitCode picks the status for err.
func exitCode(err error) int {
	var ec kong.ExitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	var be *session.BatchError
	var me *certs.MismatchError
	var ue *session.UnauthorizedError
	switch {
	case errors.As(err, &be):
		if be.Interrupted {
			return exitInterrupted
		}
		return exitFailed
	case errors.As(err, &me), errors.As(err, &ue):
		return exitAuth
	case errors.Is(err, session.ErrInterrupted):
		return exitInterrupted
	}
	return exitFailed
}

// lineErrors is an error of several problems, one "qxfer:" line each
// (see checkLocalSources).
type lineErrors []string

func (l lineErrors) Error() string { return strings.Join(l, "; ") }

// printError writes "qxfer: message" and any "hint:" lines, with control
// characters escaped (printable): a message may carry names and text from
// the server.
func printError(w io.Writer, err error) {
	lines := []string{errMessage(err)}
	var le lineErrors
	if errors.As(err, &le) {
		lines = le
	}
	for _, l := range lines {
		fmt.Fprintf(w, "qxfer: %s\n", printable(l))
	}
	for _, h := range hints(err) {
		fmt.Fprintf(w, "hint: %s\n", printable(h))
	}
}

// hints returns the Hint() lines of the errors in the chain, outermost
// first (a wrapper's general hint, then the cause's own), each line once.
func hints(err error) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(e error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if h, ok := e.(interface{ Hint() []string }); ok {
			for _, l := range h.Hint() {
				if !seen[l] {
					seen[l] = true
					out = append(out, l)
				}
			}
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
	return out
}

// errMessage is err's text for the user. An error the server reported
// says so ("(reported by the server)", where the session package, which
// serves both sides, can only say "peer"), unless a wrapper added words
// of its own.
func errMessage(err error) string {
	if err == nil {
		return ""
	}
	var se *session.Error
	if errors.As(err, &se) && se.Remote && err.Error() == se.Error() {
		return firstLower(se.Text() + " (reported by the server)")
	}
	return firstLower(err.Error())
}

func firstLower(s string) string {
	if s == "" || strings.ToUpper(s[:1]) != s[:1] || (len(s) > 1 && strings.ToUpper(s[1:2]) == s[1:2]) {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

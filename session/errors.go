package session

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"syscall"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// ErrorCode is a qxfer wire error code: it travels in Reject and Done
// messages, as the QUIC stream error code when one file is aborted, and as
// the application error code when a whole connection is closed.
type ErrorCode = wire.ErrorCode

// Error codes callers need to tell apart. PROTOCOL.md lists them all.
const (
	CodeOK                = wire.NoError
	CodeProtocolViolation = wire.ProtocolViolation
	CodeVersionMismatch   = wire.VersionMismatch
	CodeInternal          = wire.Internal
	CodeNotFound          = wire.NotFound
	CodeExists            = wire.Exists
	CodePermissionDenied  = wire.PermissionDenied
	CodeInvalidPath       = wire.InvalidPath
	CodeReadOnly          = wire.ReadOnly
	CodeNotRegular        = wire.NotRegular
	CodeNoSpace           = wire.NoSpace
	CodeIOError           = wire.IOError
	CodeHashMismatch      = wire.HashMismatch
	CodeCancelled         = wire.Cancelled
	CodeBusy              = wire.Busy
	CodeSourceChanged     = wire.SourceChanged
	CodeTruncated         = wire.Truncated
	CodeTooLong           = wire.TooLong
	CodeUpToDate          = wire.UpToDate
	CodeShutdown          = wire.Shutdown
	CodeUnknownTransfer   = wire.UnknownTransfer
	CodeLimitExceeded     = wire.LimitExceeded
	CodeInterrupted       = wire.Interrupted
	CodeNotDirectory      = wire.NotDirectory
	CodeFrameTooLarge     = wire.FrameTooLarge
)

// Error is a failure with a wire error code, either detected here or
// reported by the peer (Remote). errors.Is matches two *Error values with
// the same Code, so errors.Is(err, session.ErrCancelled) works.
type Error struct {
	Code   ErrorCode
	Remote bool   // the peer reported it
	Path   string // the file it concerns, if any
	Msg    string // detail, may be empty

	verdict bool // the peer's final answer (Reject or Done), not a lost connection
	lost    bool // caused by the connection going away: matches ErrSessionLost
}

// isVerdict reports whether err is the peer's final answer on a transfer,
// which a reconnect must not retry.
func isVerdict(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.verdict
}

// Sentinel values for errors.Is.
var (
	ErrCancelled   = &Error{Code: CodeCancelled}
	ErrInterrupted = &Error{Code: CodeInterrupted}
	ErrNotFound    = &Error{Code: CodeNotFound}
	ErrExists      = &Error{Code: CodeExists}
	ErrBusy        = &Error{Code: CodeBusy}
)

func (e *Error) Error() string {
	s := e.Code.Description()
	if e.Path != "" {
		s = e.Path + ": " + s
	}
	if e.Msg != "" && e.Msg != e.Code.Description() {
		s += ": " + e.Msg
	}
	if e.Remote {
		s += " (reported by peer)"
	}
	return s
}

// Is reports whether target is an *Error with the same code, or
// ErrSessionLost for an error caused by the connection going away.
func (e *Error) Is(target error) bool {
	if target == ErrSessionLost {
		return e.lost
	}
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// errorf builds a local *Error for path.
func errorf(code ErrorCode, path, format string, args ...any) *Error {
	return &Error{Code: code, Path: path, Msg: fmt.Sprintf(format, args...)}
}

// asError converts any error into an *Error, mapping file-system errors to
// their wire codes. Messages keep the underlying cause but never a
// server-side absolute path (os.Root errors name only the relative path).
// An error wrapping ErrSessionLost keeps matching it.
func asError(err error, path string) *Error {
	lost := errors.Is(err, ErrSessionLost)
	var e *Error
	if errors.As(err, &e) {
		if (e.Path == "" && path != "") || (lost && !e.lost) {
			c := *e
			if c.Path == "" {
				c.Path = path
			}
			c.lost = c.lost || lost
			return &c
		}
		return e
	}
	return &Error{Code: codeOf(err), Path: path, Msg: causeText(err), lost: lost}
}

func causeText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// codeOf maps an error from the file system to a wire code.
func codeOf(err error) ErrorCode {
	switch {
	case err == nil:
		return CodeOK
	case errors.Is(err, fs.ErrNotExist):
		return CodeNotFound
	case errors.Is(err, fs.ErrExist):
		return CodeExists
	case errors.Is(err, syscall.ENOSPC):
		return CodeNoSpace
	case errors.Is(err, syscall.EROFS):
		return CodeReadOnly
	case errors.Is(err, syscall.ENOTDIR):
		return CodeNotDirectory
	case errors.Is(err, syscall.EISDIR):
		return CodeNotRegular
	case errors.Is(err, fs.ErrPermission):
		return CodePermissionDenied
	case isEscape(err):
		return CodeInvalidPath
	}
	return CodeIOError
}

// errEscape is the (unexported) error os.Root returns for a path that
// leaves the root, captured once so it can be matched with errors.Is rather
// than by its text.
var errEscape = sync.OnceValue(func() error {
	dir, err := os.MkdirTemp("", "qxfer-root-probe")
	if err != nil {
		return nil
	}
	defer os.RemoveAll(dir)
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil
	}
	defer r.Close()
	_, err = r.Open("../x")
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return nil
})

func isEscape(err error) bool {
	e := errEscape()
	return e != nil && errors.Is(err, e)
}

package xfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"syscall"

	"github.com/quic-go/quic-go"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// ErrorCode is a qxfer wire error code: it travels in Reject and Done
// messages, as the QUIC stream error code when one file is aborted, and as
// the application error code when a whole connection is closed.
type ErrorCode = wire.ErrorCode

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
	conn    bool // a failure of the whole connection, not of one stream
}

// ErrSessionLost wraps every error caused by the connection going away
// (idle timeout, network down, server shutdown): a Session reconnects and
// retries them, unlike a verdict of the peer.
var ErrSessionLost = errors.New("session lost")

// Verdict is the peer's final answer on a transfer (a Reject, or a Done
// with a failure code): Remote, and never retried by a reconnect.
func Verdict(code ErrorCode, path, msg string) *Error {
	return &Error{Code: code, Remote: true, Path: path, Msg: msg, verdict: true}
}

// UpToDate is the verdict that the destination already holds the file:
// nothing is sent, and a reconnect does not retry it.
func UpToDate(path string) *Error {
	return &Error{Code: wire.UpToDate, Path: path, verdict: true}
}

// IsVerdict reports whether err is the peer's final answer on a transfer,
// which a reconnect must not retry.
func IsVerdict(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.verdict
}

// Sentinel values for errors.Is.
var (
	ErrCancelled   = &Error{Code: wire.Cancelled}
	ErrInterrupted = &Error{Code: wire.Interrupted}
	ErrNotFound    = &Error{Code: wire.NotFound}
	ErrExists      = &Error{Code: wire.Exists}
	ErrBusy        = &Error{Code: wire.Busy}
)

func (e *Error) Error() string {
	s := e.Text()
	if e.Remote {
		s += " (reported by peer)"
	}
	return s
}

// Text is Error without saying that the peer reported it, for a caller
// that knows which side the peer is (the command line says "reported by
// the server"). It says each thing once: "PATH: DESCRIPTION: MSG", where
// a Msg that merely repeats the code's description, or extends it
// ("the destination already exists and differs..."), stands alone.
func (e *Error) Text() string {
	desc := e.Code.Description()
	s := desc
	switch {
	case e.Msg == "" || e.Msg == desc:
	case strings.HasPrefix(e.Msg, desc):
		s = e.Msg
	default:
		s += ": " + e.Msg
	}
	if e.Path != "" {
		s = e.Path + ": " + s
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

// Errorf builds a local *Error for path.
func Errorf(code ErrorCode, path, format string, args ...any) *Error {
	return &Error{Code: code, Path: path, Msg: fmt.Sprintf(format, args...)}
}

// AsError converts any error into an *Error, mapping file-system errors to
// their wire codes. Messages keep the underlying cause but never a
// server-side absolute path (os.Root errors name only the relative path).
// An error wrapping ErrSessionLost keeps matching it.
func AsError(err error, path string) *Error {
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

// escapeText is the cause of an os.Root escape: paths with ".." never
// reach a root (the session refuses them first), so what escapes is a
// symbolic link, and an absolute one always does, even when it points
// inside the root.
const escapeText = "a symlink that is absolute or leads out of the tree (such links are never followed)"

func causeText(err error) string {
	if isEscape(err) {
		return escapeText
	}
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
		return wire.NoError
	case errors.Is(err, fs.ErrNotExist):
		return wire.NotFound
	case errors.Is(err, fs.ErrExist):
		return wire.Exists
	case errors.Is(err, syscall.ENOSPC):
		return wire.NoSpace
	case errors.Is(err, syscall.EROFS):
		return wire.ReadOnly
	case errors.Is(err, syscall.ENOTDIR):
		return wire.NotDirectory
	case errors.Is(err, syscall.ELOOP):
		return wire.SymlinkLoop
	case errors.Is(err, syscall.ENAMETOOLONG):
		return wire.NameTooLong
	case errors.Is(err, syscall.EISDIR):
		return wire.NotRegular
	case errors.Is(err, fs.ErrPermission):
		return wire.PermissionDenied
	case isEscape(err):
		return wire.InvalidPath
	}
	return wire.IOError
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

// WithPath returns e naming path p (a copy when e names another).
func WithPath(e *Error, p string) *Error {
	if e.Path == p {
		return e
	}
	c := *e
	c.Path = p
	return &c
}

// CauseError returns the *Error a context was cancelled with: its cause
// when that is an *Error, else wire.Cancelled; nil while ctx is live.
func CauseError(ctx context.Context) *Error {
	var e *Error
	if errors.As(context.Cause(ctx), &e) {
		return e
	}
	if ctx.Err() != nil {
		return &Error{Code: wire.Cancelled, Msg: fmt.Sprint(context.Cause(ctx))}
	}
	return nil
}

// CtxError is the error a blocking call returns when ctx ends: the
// *Error of its cause, or ctx.Err().
func CtxError(ctx context.Context) error {
	if e := CauseError(ctx); e != nil {
		return e
	}
	return ctx.Err()
}

// StreamError is the one place that turns a failed QUIC stream or
// connection operation into an *Error naming path p:
//   - ctx (context.Background() where no transfer is concerned) has ended: the cause the transfer was cancelled
//     with, so a cancel reads as the cancel and not as the reset it caused;
//   - io.EOF or io.ErrUnexpectedEOF: wire.Truncated (the stream ended
//     before the bytes it promised);
//   - a stream reset or stop (RFC 9000 RESET_STREAM / STOP_SENDING): the
//     peer's code, Remote when the peer sent it;
//   - an application close of the connection: its code, Remote;
//   - an idle timeout or any other failure: wire.IOError.
func StreamError(ctx context.Context, err error, p string) *Error {
	if ctx.Err() != nil {
		if e := CauseError(ctx); e != nil {
			return WithPath(e, p)
		}
	}
	var (
		se *quic.StreamError
		ae *quic.ApplicationError
		it *quic.IdleTimeoutError
		e  *Error
	)
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return Errorf(wire.Truncated, p, "stream ended early")
	case errors.As(err, &se):
		return &Error{Code: ErrorCode(se.ErrorCode), Remote: se.Remote, Path: p}
	case errors.As(err, &ae):
		msg := "connection closed"
		if ae.ErrorMessage != "" {
			msg += ": " + ae.ErrorMessage
		}
		return &Error{Code: ErrorCode(ae.ErrorCode), Remote: ae.Remote, Path: p, Msg: msg, conn: true}
	case errors.As(err, &it):
		return &Error{Code: wire.IOError, Path: p, Msg: "connection timed out", conn: true}
	case errors.As(err, &e):
		return WithPath(e, p)
	case err == nil:
		return &Error{Code: wire.Internal, Path: p, Msg: "no error to classify"}
	}
	return &Error{Code: wire.IOError, Path: p, Msg: err.Error(), conn: true}
}

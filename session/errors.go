package session

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/quic-go/quic-go"

	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
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
	CodeQuotaExceeded     = wire.QuotaExceeded
	CodeSymlinkLoop       = wire.SymlinkLoop
	CodeNameTooLong       = wire.NameTooLong
	CodeNotEmpty          = wire.NotEmpty
	CodeRangeMisaligned   = wire.RangeMisaligned
	CodeWrongServer       = wire.WrongServer
	CodeBadDelta          = wire.BadDelta
	CodeFrameTooLarge     = wire.FrameTooLarge
)

// Error is a failure with a wire error code, either detected here or
// reported by the peer (Remote). errors.Is matches two *Error values with
// the same Code, so errors.Is(err, session.ErrCancelled) works.
type Error = xfer.Error

// Sentinel values for errors.Is, which matches any *Error of the same
// code.
var (
	ErrCancelled   = &Error{Code: CodeCancelled}
	ErrInterrupted = &Error{Code: CodeInterrupted}
	ErrNotFound    = &Error{Code: CodeNotFound}
	ErrExists      = &Error{Code: CodeExists}
	ErrBusy        = &Error{Code: CodeBusy}
)

// ErrSessionLost wraps every error caused by the connection going away
// (idle timeout, network down, server shutdown).
var ErrSessionLost = xfer.ErrSessionLost

// ErrClosed is returned by requests on a closed client.
var ErrClosed = errors.New("session closed")

// RateLimiter caps the rate of file bytes (a token bucket; see
// xfer.RateLimiter). A nil *RateLimiter does not limit.
type RateLimiter = xfer.RateLimiter

// NewRateLimiter returns a limiter of bytesPerSecond, or nil (no limit)
// when bytesPerSecond is not positive.
func NewRateLimiter(bytesPerSecond int64) *RateLimiter { return xfer.NewRateLimiter(bytesPerSecond) }

// rejected converts a Reject into the peer's verdict.
func rejected(m *wire.Reject, p string) *Error {
	return xfer.Verdict(m.Code, p, m.Msg)
}

// rejectText is the message of a Reject or Done: the detail, bounded. The
// path is not repeated: the peer knows which request it answers.
func rejectText(e *Error) string {
	s := e.Msg
	if len(s) > wire.MaxMessageLen {
		s = s[:wire.MaxMessageLen]
	}
	return s
}

// sessionError describes why the command channel failed: a clean close
// by the peer is ErrClosed; anything else wraps ErrSessionLost.
func sessionError(err error) error {
	e := xfer.StreamError(context.Background(), err, "")
	if e.Code == CodeOK && e.Remote {
		return ErrClosed
	}
	return fmt.Errorf("%w: %w", ErrSessionLost, e)
}

// protocolErrorf is an error that ends a server session, closing its
// connection with code (a local *Error: closeCode finds it).
func protocolErrorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// closeCode picks the connection close code for the error that ended a
// server session: errors of this side carry their own; a peer that went
// away (a QUIC error, a closed stream) needs no code.
func closeCode(err error) (ErrorCode, string) {
	var e *Error
	if errors.As(err, &e) && !e.Remote {
		return e.Code, e.Msg
	}
	return CodeOK, ""
}

// readError classifies a failed command-channel read on the server: a
// malformed frame is a protocol violation; the connection going away is
// not.
func readError(err error, what string) error {
	switch {
	case errors.Is(err, wire.ErrFrameTooLarge):
		return protocolErrorf(CodeFrameTooLarge, "%s: %v", what, err)
	case errors.Is(err, io.EOF):
		return nil
	}
	var se *quic.StreamError
	var ae *quic.ApplicationError
	var ie *quic.IdleTimeoutError
	if errors.As(err, &se) || errors.As(err, &ae) || errors.As(err, &ie) || errors.Is(err, context.Canceled) {
		return err
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		return protocolErrorf(CodeProtocolViolation, "%s: timed out", what)
	}
	return protocolErrorf(CodeProtocolViolation, "%s: %v", what, err)
}

// stateFor maps a transfer's final error to its state.
func stateFor(err error) State {
	switch {
	case err == nil:
		return Done
	case errors.Is(err, &Error{Code: CodeUpToDate}):
		return Skipped
	case errors.Is(err, ErrCancelled), errors.Is(err, ErrInterrupted):
		return Cancelled
	}
	return Failed
}

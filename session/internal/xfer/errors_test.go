package xfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quic-go/quic-go"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/session/internal/wire"
)

// TestStreamError: every failure of a stream or connection operation
// becomes an *Error naming the file, with the code of its cause.
func TestStreamError(t *testing.T) {
	const p = "dir/f.bin"
	cancelled := func(cause error) context.Context {
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(cause)
		return ctx
	}
	live := context.Background()
	reset := &quic.StreamError{StreamID: 2, ErrorCode: quic.StreamErrorCode(wire.NoSpace), Remote: true}
	tests := []struct {
		name       string
		ctx        context.Context // nil: context.Background()
		err        error
		wantCode   ErrorCode
		wantRemote bool
		wantMsg    string // "" for any
	}{
		{name: "live ctx, EOF", ctx: live, err: io.EOF, wantCode: wire.Truncated},
		{name: "unexpected EOF", err: io.ErrUnexpectedEOF, wantCode: wire.Truncated},
		{name: "wrapped EOF", err: fmt.Errorf("reading: %w", io.EOF), wantCode: wire.Truncated},
		{name: "cancelled with an *Error cause", ctx: cancelled(&Error{Code: wire.Shutdown, Remote: true, Msg: "bye"}), err: reset, wantCode: wire.Shutdown, wantRemote: true, wantMsg: "bye"},
		{name: "cancelled with an *Error cause naming another file", ctx: cancelled(&Error{Code: wire.Interrupted, Path: "other"}), err: io.EOF, wantCode: wire.Interrupted},
		{name: "cancelled with a wrapped *Error cause", ctx: cancelled(fmt.Errorf("stop: %w", &Error{Code: wire.Busy})), err: io.EOF, wantCode: wire.Busy},
		{name: "cancelled without an *Error cause", ctx: cancelled(nil), err: reset, wantCode: wire.Cancelled},
		{name: "cancelled with a plain cause", ctx: cancelled(errors.New("user quit")), err: io.EOF, wantCode: wire.Cancelled, wantMsg: "user quit"},
		{name: "stream reset by the peer", ctx: live, err: reset, wantCode: wire.NoSpace, wantRemote: true},
		{name: "stream stopped locally", err: &quic.StreamError{StreamID: 3, ErrorCode: quic.StreamErrorCode(wire.Cancelled)}, wantCode: wire.Cancelled},
		{name: "wrapped stream error", err: fmt.Errorf("write: %w", reset), wantCode: wire.NoSpace, wantRemote: true},
		{name: "connection closed by the peer", err: &quic.ApplicationError{Remote: true, ErrorCode: quic.ApplicationErrorCode(wire.Shutdown), ErrorMessage: "server stopping"}, wantCode: wire.Shutdown, wantRemote: true, wantMsg: "connection closed: server stopping"},
		{name: "connection closed locally", err: &quic.ApplicationError{ErrorCode: quic.ApplicationErrorCode(wire.Interrupted)}, wantCode: wire.Interrupted},
		{name: "idle timeout", err: &quic.IdleTimeoutError{}, wantCode: wire.IOError, wantMsg: "connection timed out"},
		{name: "wrapped idle timeout", ctx: live, err: fmt.Errorf("open: %w", &quic.IdleTimeoutError{}), wantCode: wire.IOError, wantMsg: "connection timed out"},
		{name: "an *Error", err: &Error{Code: wire.SourceChanged, Msg: "grew"}, wantCode: wire.SourceChanged, wantMsg: "grew"},
		{name: "a wrapped *Error naming another file", err: fmt.Errorf("x: %w", &Error{Code: wire.NotFound, Remote: true, Path: "other"}), wantCode: wire.NotFound, wantRemote: true},
		{name: "a plain error", err: errors.New("boom"), wantCode: wire.IOError, wantMsg: "boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tc.ctx
			if ctx == nil {
				ctx = live
			}
			got := StreamError(ctx, tc.err, p)
			if got == nil {
				t.Fatalf("got nil, want an *Error")
			}
			if got.Code != tc.wantCode {
				t.Errorf("got code %v, want %v", got.Code, tc.wantCode)
			}
			if got.Remote != tc.wantRemote {
				t.Errorf("got remote %v, want %v", got.Remote, tc.wantRemote)
			}
			if got.Path != p {
				t.Errorf("got path %q, want %q", got.Path, p)
			}
			if tc.wantMsg != "" && got.Msg != tc.wantMsg {
				t.Errorf("got message %q, want %q", got.Msg, tc.wantMsg)
			}
		})
	}
}

// TestStreamErrorKeepsCause: the *Error a stream error carries is not
// modified when the result names another path.
func TestStreamErrorKeepsCause(t *testing.T) {
	cause := &Error{Code: wire.NoSpace, Path: "other"}
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(cause)
	for _, got := range []*Error{StreamError(context.Background(), cause, "f"), StreamError(ctx, io.EOF, "f")} {
		if got.Path != "f" || cause.Path != "other" {
			t.Errorf("got result path %q and cause path %q, want %q and %q", got.Path, cause.Path, "f", "other")
		}
	}
}

// TestAsErrorRealCause: file-system failures keep the code and wording of
// their cause (issue 13, class 11): a symlink loop is symlink_loop and a
// too-long name name_too_long, not io_error; a link leading out of an
// os.Root is invalid_path and says so.
func TestAsErrorRealCause(t *testing.T) {
	dir := t.TempDir()
	self := filepath.Join(dir, "self")
	if err := os.Symlink("self", self); err != nil {
		t.Skipf("no symlinks here: %v", err)
	}
	if err := os.Symlink("/", filepath.Join(dir, "abs")); err != nil {
		t.Fatal(err)
	}
	root := testutil.OpenRoot(t, dir)
	tests := []struct {
		name string
		op   func() error
		code wire.ErrorCode
		msg  string
	}{
		{"symlink loop", func() error { _, err := os.Stat(self); return err }, wire.SymlinkLoop, ""},
		{"symlink loop in a root", func() error { _, err := root.Open("self"); return err }, wire.SymlinkLoop, ""},
		{"name too long", func() error { _, err := os.Open(filepath.Join(dir, strings.Repeat("n", 300))); return err }, wire.NameTooLong, ""},
		{"absolute link in a root", func() error { _, err := root.Open("abs/etc"); return err }, wire.InvalidPath, escapeText},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.op()
			if err == nil {
				t.Fatal("got no error")
			}
			e := AsError(err, "p")
			if e.Code != tt.code || (tt.msg != "" && e.Msg != tt.msg) {
				t.Errorf("AsError(%v): got %v (code %v, msg %q), want code %v, msg %q", err, e, e.Code, e.Msg, tt.code, tt.msg)
			}
		})
	}
}

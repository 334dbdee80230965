package xfer

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The helpers shared with the other packages' tests (random files,
// polling, the leak check, a loopback QUIC pair) are in internal/testutil.

// exists reports whether name exists under dir.
func exists(t testing.TB, dir, name string) bool {
	t.Helper()
	_, err := os.Stat(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil && !os.IsNotExist(err) {
		t.Fatalf("stat %s: %v", name, err)
	}
	return err == nil
}

// codeOfErr is the code of the *Error in err, or 0xffff if there is none.
func codeOfErr(err error) ErrorCode {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ErrorCode(0xffff)
}

// timeOfNanos is the time n Unix nanoseconds.
func timeOfNanos(n int64) time.Time { return time.Unix(0, n) }

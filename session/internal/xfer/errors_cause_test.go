package xfer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/session/internal/wire"
)

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

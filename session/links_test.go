package session

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/qxfer/qxfer/internal/testutil"
)

// TestPlaceLink: the rules both receivers of -l apply (the server for a
// push, the client for a pull, whatever a hostile server says): a target
// that is absolute or leads out of the tree is refused and nothing is
// made; an identical link is up to date; another one or a file is kept
// unless forced; a directory is never replaced.
func TestPlaceLink(t *testing.T) {
	dir, root := testutil.TempRoot(t)
	os.Mkdir(filepath.Join(dir, "adir"), 0o755)
	os.WriteFile(filepath.Join(dir, "afile"), []byte("x"), 0o644)
	tests := []struct {
		name, path, target string
		force              bool
		code               ErrorCode // 0: made
		want               string    // the link's target afterwards ("" none)
	}{
		{"absolute", "l1", "/etc/passwd", false, CodeInvalidPath, ""},
		{"out of the tree", "l2", "../x", false, CodeInvalidPath, ""},
		{"out from below", "d/e/l3", "../../../x", false, CodeInvalidPath, ""},
		{"empty", "l4", "", false, CodeInvalidPath, ""},
		{"NUL", "l5", "a\x00b", false, CodeInvalidPath, ""},
		{"made, parents too", "d/e/ok", "../../afile", false, 0, "../../afile"},
		{"identical", "d/e/ok", "../../afile", false, CodeUpToDate, "../../afile"},
		{"differs", "d/e/ok", "x", false, CodeExists, "../../afile"},
		{"differs, forced", "d/e/ok", "x", true, 0, "x"},
		{"a file there", "afile", "x", false, CodeExists, ""},
		{"a directory there, forced", "adir", "x", true, CodeNotRegular, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := placeLink(root, tt.path, tt.target, tt.force)
			if got := codeOfErr(err); (tt.code == 0 && err != nil) || (tt.code != 0 && got != tt.code) {
				t.Fatalf("placeLink(%q, %q): got %v, want code %v", tt.path, tt.target, err, tt.code)
			}
			got, _ := os.Readlink(filepath.Join(dir, filepath.FromSlash(tt.path)))
			if got != tt.want {
				t.Errorf("%s: got a link to %q, want %q", tt.path, got, tt.want)
			}
		})
	}
}

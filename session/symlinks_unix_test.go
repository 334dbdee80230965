//go:build unix

package session

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/qxfer/qxfer/internal/testutil"
)

// TestPushFIFOInTreeWording: a FIFO met by push -r is refused as what it
// is, not as a symlinked directory (issue 13, class 11).
func TestPushFIFOInTreeWording(t *testing.T) {
	_, c := startWithClient(t)
	tree := filepath.Join(t.TempDir(), "tree")
	testutil.WriteRandom(t, filepath.Join(tree, "a"), 10)
	if err := syscall.Mkfifo(filepath.Join(tree, "p"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	rep, err := c.Push(testCtx(t), []string{tree}, "up", Options{Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	wantFiles(t, rep, []string{"up/tree/a"}, map[string]ErrorCode{"up/tree/p": CodeNotRegular})
	e := fileError(t, fileByPath(t, rep, "up/tree/p"))
	if e.Msg != "a named pipe (FIFO)" || strings.Contains(e.Error(), "symlink") {
		t.Errorf("got %q, want it named a named pipe (FIFO)", e.Error())
	}
}

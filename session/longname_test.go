package session

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// longNames are target names whose side files, named by adding to them,
// would not fit in 255 bytes; and one that looks like a hashed side name.
var longNames = []struct{ what, name string }{
	{"81 CJK characters (243 bytes)", strings.Repeat("語", 81)},
	{"255 bytes", strings.Repeat("n", 251) + ".bin"},
	{"looks hashed", "qxfer-0123456789abcdef0123456789abcdef"},
}

// TestLongNames checks that files whose names are 238 to 255 bytes long
// are pushed and pulled (their .part and record used to be "file name
// too long"), leave no side file, and that a partial file of such a
// name, with its record, is resumed: only the missing bytes move.
func TestLongNames(t *testing.T) {
	for _, dir := range []Direction{Push, Pull} {
		for _, ln := range longNames {
			t.Run(dir.String()+" "+ln.what, func(t *testing.T) {
				ts, c := startWithClient(t)
				local, src, dst := transferDirs(t, dir, ts)
				const size = 3 << 20
				data := testutil.WriteRandom(t, filepath.Join(src, ln.name), size)
				f := onlyFile(t, "whole", transferOf(dir, local, ln.name, Options{}), c)
				if f.State != Done {
					t.Fatalf("got %v (%v), want done", f.State, f.Err)
				}
				testutil.SameFile(t, filepath.Join(dst, ln.name), data)
				testutil.NoPartials(t, dst)

				// A partial copy of its first MiB, as an interrupted
				// transfer leaves it, is resumed.
				if err := os.Remove(filepath.Join(dst, ln.name)); err != nil {
					t.Fatal(err)
				}
				const held = 1 << 20
				part := append(append([]byte(nil), data[:held]...), make([]byte, size-held)...)
				if err := os.WriteFile(filepath.Join(dst, xfer.PartName(ln.name)), part, 0o600); err != nil {
					t.Fatal(err)
				}
				rec := recordOf(data[:held], metaOfFile(t, filepath.Join(src, ln.name)))
				rec.Name = ln.name
				writeRecord(t, dst, ln.name, rec)
				f = onlyFile(t, "resume", transferOf(dir, local, ln.name, Options{}), c)
				if f.State != Done {
					t.Fatalf("resume: got %v (%v), want done", f.State, f.Err)
				}
				if f.Bytes != size-held {
					t.Errorf("resume moved %d bytes, want the %d the partial file lacked", f.Bytes, size-held)
				}
				testutil.SameFile(t, filepath.Join(dst, ln.name), data)
				testutil.NoPartials(t, dst)
			})
		}
	}
}

// TestDeepPath checks a file at the end of a path close to the 4096
// bytes a path may have on the wire: its side files, longer than the
// path, are made beside it (the receiver resolves paths one directory at
// a time), push and pull -r.
func TestDeepPath(t *testing.T) {
	var els []string
	for i := range 15 {
		els = append(els, strings.Repeat(string(rune('a'+i)), 255))
	}
	deep := strings.Join(els, "/") // 3839 bytes
	name := strings.Repeat("f", 200)
	if n := len(deep) + 1 + len(name); n > 4096 {
		t.Fatalf("path of %d bytes, want at most 4096", n)
	}
	ts, c := startWithClient(t)
	local := t.TempDir()
	data := testutil.WriteRandom(t, filepath.Join(ts.root, "top", filepath.FromSlash(deep), name), 100000)
	rep, err := c.Pull(testCtx(t), []string{"top"}, local, Options{Recursive: true})
	if err != nil || rep.Files[0].State != Done {
		t.Fatalf("pull -r: got %v, %+v; want done", err, rep)
	}
	testutil.SameFile(t, filepath.Join(local, "top", filepath.FromSlash(deep), name), data)
	testutil.NoPartials(t, local)
	if err := os.RemoveAll(filepath.Join(ts.root, "top")); err != nil {
		t.Fatal(err)
	}
	rep, err = c.Push(testCtx(t), []string{filepath.Join(local, "top")}, ".", Options{Recursive: true})
	if err != nil || rep.Files[0].State != Done {
		t.Fatalf("push -r: got %v, %+v; want done", err, rep)
	}
	testutil.SameFile(t, filepath.Join(ts.root, "top", filepath.FromSlash(deep), name), data)
	testutil.NoPartials(t, ts.root)
}

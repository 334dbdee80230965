package session

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/session/internal/wire"
)

// TestPathAttackRaw sends hostile paths in Put, Get, List, Stat and
// Mkdir frames (requestFrames) from a raw peer, to each store. Each must
// be refused with InvalidPath (or its real cause), create nothing inside
// or outside the root, and leave the server serving.
func TestPathAttackRaw(t *testing.T) {
	long := strings.Repeat("n", 300)
	// Six names of 200 bytes: each fits a POSIX name, the whole more
	// than S3's 1024-byte key.
	longKey := strings.Repeat(strings.Repeat("k", 200)+"/", 6) + "x"
	paths := []struct {
		name string
		path string
		code ErrorCode // the refusal; 0 means CodeInvalidPath
		// s3Only marks what only the S3 store refuses: a POSIX root
		// holds such a name, so there it is no attack.
		s3Only bool
	}{
		{"dotdot", "..", 0, false},
		{"dotdot first", "../x", 0, false},
		{"dotdot escaping from a subdirectory", "a/../../x", 0, false},
		{"dotdot last", "a/..", 0, false},
		{"dotdot staying inside", "a/../x", 0, false},
		{"dotdot to a sibling prefix", "../" + s3Prefix + "2/secret", 0, false},
		{"absolute", "/etc/passwd", 0, false},
		{"absolute to root", "/", 0, false},
		{"NUL byte", "a\x00b", 0, false},
		{"NUL byte at end", "x\x00", 0, false},
		{"backslash dotdot", `..\x`, 0, false},
		{"invalid UTF-8", "a\xffb", 0, false},
		// Refused for its real cause (issue 13, class 11).
		{"300-byte name", long, CodeNameTooLong, false},
		{"300-byte name in a directory", "d/" + long, CodeNameTooLong, false},
		// The S3 store's own limits (issue 16).
		{"state prefix", ".qxfer", 0, true},
		{"state object", ".qxfer/up/x.json", 0, true},
		{"below the state prefix", "./.qxfer/new", 0, true},
		{"key longer than S3 holds", longKey, CodeNameTooLong, true},
	}
	forEachStore(t, ServerConfig{}, func(t *testing.T, e *storeEnv) {
		checkOutside := e.outsideSecret(t)
		var want []string // all the store holds: the secret outside the prefix on S3
		if e.isS3() {
			want = []string{s3Prefix + "2/secret"}
		}
		for _, pth := range paths {
			if pth.s3Only && !e.isS3() {
				continue
			}
			for _, op := range requestFrames {
				t.Run(op.name+" "+pth.name, func(t *testing.T) {
					p := dialRaw(t, e.ts)
					p.hello()
					p.send(op.frame(1, pth.path))
					code := pth.code
					if code == 0 {
						code = CodeInvalidPath
					}
					p.expectRefused(pth.path, code)
					p.close()
					checkOutside(t)
					if got := e.allNames(t); !slices.Equal(got, want) {
						t.Errorf("the store holds %q, want %q", got, want)
					}
				})
			}
		}
		checkServes(t, e.ts)
		checkOutside(t)
	})
}

// TestPathAttackSymlink sends paths through a symlink from the root to
// an outside directory: POSIX only, as an object store has no symlinks.
// Each must be refused with InvalidPath, create nothing inside or outside
// the root, and leave the server serving.
func TestPathAttackSymlink(t *testing.T) {
	ts := startServer(t, ServerConfig{}, nil)
	out := testutil.OutsideDir(t, ts.root)
	attacks := []struct{ name, op, path string }{
		{"put through symlink", "put", "out/x"},
		{"put into new dir through symlink", "put", "out/sub/x"},
		{"put onto symlink's target", "put", "out/secret"},
		{"get through symlink", "get", "out/secret"},
		{"list through symlink", "list", "out"},
		{"list below symlink", "list", "out/."},
		{"stat through symlink", "stat", "out/secret"},
		{"mkdir through symlink", "mkdir", "out/new"},
		{"mkdir nested through symlink", "mkdir", "out/new/deeper"},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			p := dialRaw(t, ts)
			p.hello()
			p.send(requestFrame(t, a.op)(1, a.path))
			p.expectRefused(a.path, CodeInvalidPath)
			p.close()
			testutil.SameDirNames(t, "outside directory", out, "secret")
			testutil.SameDirNames(t, "server root", ts.root, "out")
			if b, err := os.ReadFile(filepath.Join(out, "secret")); err != nil || string(b) != "top secret" {
				t.Errorf("outside secret: got %q, %v, want it unchanged", b, err)
			}
		})
	}
	checkServes(t, ts)
	testutil.SameDirNames(t, "outside directory", out, "secret")
}

// TestPathAttackTooLong sends a path longer than the wire allows: the
// frame itself is malformed, so the server closes the connection with
// ProtocolViolation rather than answering it.
func TestPathAttackTooLong(t *testing.T) {
	ts := startServer(t, ServerConfig{}, nil)
	long := strings.Repeat("a/", 2500) // 5000 bytes
	tests := []struct {
		name  string
		frame wire.Message
	}{
		{"put", &wire.Put{ID: 1, Path: long, Size: 1, MTime: fileTime(0)}},
		{"get", &wire.Get{ID: 1, Path: long}},
		{"list", &wire.List{ID: 1, Path: long}},
		{"mkdir", &wire.Mkdir{ID: 1, Path: long, Mode: 0o755}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := dialRaw(t, ts)
			p.hello()
			p.send(tt.frame)
			p.expectClosedWith(CodeProtocolViolation)
			if ents := testutil.DirNames(t, ts.root); len(ents) != 0 {
				t.Errorf("server root: got %q, want it empty", ents)
			}
		})
	}
	checkServes(t, ts)
}

// TestPathAttackDistinctNames pushes names that differ only in case or in
// Unicode normalisation. qxfer stores names as bytes, so each arrives as
// its own file and none overwrites another.
func TestPathAttackDistinctNames(t *testing.T) {
	ts := startServer(t, ServerConfig{}, nil)
	names := []string{"File.txt", "file.txt", "FILE.TXT", "\u00e9.txt", "e\u0301.txt"}
	src := t.TempDir()
	data := map[string][]byte{}
	var paths []string
	for _, n := range names {
		data[n] = testutil.WriteRandom(t, filepath.Join(src, n), 1000+len(paths))
		paths = append(paths, filepath.Join(src, n))
	}
	c := ts.dial(t, "")
	rep, err := c.Push(testCtx(t), paths, ".", Options{})
	checkReport(t, "push", rep, err, len(names), Done)
	testutil.SameDirNames(t, "server root", ts.root, names...)
	for _, n := range names {
		testutil.SameFile(t, filepath.Join(ts.root, n), data[n])
	}
	// And back again.
	dst := t.TempDir()
	rep, err = c.Pull(testCtx(t), names, dst, Options{})
	checkReport(t, "pull", rep, err, len(names), Done)
	for _, n := range names {
		testutil.SameFile(t, filepath.Join(dst, n), data[n])
	}
	testutil.NoPartials(t, ts.root)
	checkServes(t, ts)
}

// TestSymlinkSwapDuringPush replaces the destination directory with a
// symlink to an outside directory while a push into it is in flight. The
// .part stays open in the old directory; the final rename goes through
// os.Root, which must refuse to follow the new symlink out of the root.
func TestSymlinkSwapDuringPush(t *testing.T) {
	ts := startServer(t, ServerConfig{}, nil)
	outside := t.TempDir()
	const size = 8 << 20
	local := filepath.Join(t.TempDir(), "f")
	data := testutil.WriteRandom(t, local, size)
	if err := os.Mkdir(filepath.Join(ts.root, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	done := pushUnderWay(t, ts, 40e6, local, "dir/f", 1<<20)
	if err := os.Rename(filepath.Join(ts.root, "dir"), filepath.Join(ts.root, "dir.old")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(ts.root, "dir")); err != nil {
		t.Fatal(err)
	}
	res := <-done
	checkReport(t, "push", res.rep, res.err, 1, Failed)
	e := fileError(t, res.rep.Files[0])
	if e.Code != CodeInvalidPath {
		t.Errorf("push: got code %v (%v), want %v", e.Code, e, CodeInvalidPath)
	}
	t.Logf("push after the swap: %v", e)
	if ents := testutil.DirNames(t, outside); len(ents) != 0 {
		t.Errorf("outside directory: got %q, want it empty", ents)
	}
	if _, err := os.Lstat(filepath.Join(ts.root, "dir.old", "f")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("final file in the old directory: got %v, want none", err)
	}
	// Put the directory back: the same push now completes.
	if err := os.Remove(filepath.Join(ts.root, "dir")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(ts.root, "dir.old")); err != nil {
		t.Fatal(err)
	}
	c2 := ts.dial(t, "")
	rep, err := c2.Push(testCtx(t), []string{local}, "dir", Options{})
	checkReport(t, "push again", rep, err, 1, Done)
	testutil.SameFile(t, filepath.Join(ts.root, "dir", "f"), data)
	testutil.NoPartials(t, ts.root)
	if ents := testutil.DirNames(t, outside); len(ents) != 0 {
		t.Errorf("outside directory: got %q, want it empty", ents)
	}
	checkServes(t, ts)
}

package session

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/session/internal/wire"
)

// TestPathAttackRaw sends hostile paths in Put, Get, List, Stat and Mkdir frames (requestFrames)
// from a raw peer. Each must be refused with InvalidPath, create nothing
// inside or outside the root, and leave the server serving.
func TestPathAttackRaw(t *testing.T) {
	ts := startServer(t, ServerConfig{}, nil)
	out := testutil.OutsideDir(t, ts.root)
	long := strings.Repeat("n", 300)
	paths := []struct {
		name string
		path string
		code ErrorCode // the refusal; 0 means CodeInvalidPath
	}{
		{"dotdot", "..", 0},
		{"dotdot first", "../x", 0},
		{"dotdot escaping from a subdirectory", "a/../../x", 0},
		{"dotdot last", "a/..", 0},
		{"dotdot staying inside", "a/../x", 0},
		{"absolute", "/etc/passwd", 0},
		{"absolute to root", "/", 0},
		{"NUL byte", "a\x00b", 0},
		{"NUL byte at end", "x\x00", 0},
		{"backslash dotdot", `..\x`, 0},
		{"invalid UTF-8", "a\xffb", 0},
		// Refused for its real cause (issue 13, class 11).
		{"300-byte name", long, CodeNameTooLong},
		{"300-byte name in a directory", "d/" + long, CodeNameTooLong},
	}
	type attack struct {
		name string
		op   string // a name in requestFrames
		path string
		code ErrorCode
	}
	var attacks []attack
	for _, pth := range paths {
		for _, op := range requestFrames {
			attacks = append(attacks, attack{op.name + " " + pth.name, op.name, pth.path, pth.code})
		}
	}
	// Through the symlink root/out -> out.
	attacks = append(attacks,
		attack{"put through symlink", "put", "out/x", 0},
		attack{"put into new dir through symlink", "put", "out/sub/x", 0},
		attack{"put onto symlink's target", "put", "out/secret", 0},
		attack{"get through symlink", "get", "out/secret", 0},
		attack{"list through symlink", "list", "out", 0},
		attack{"list below symlink", "list", "out/.", 0},
		attack{"mkdir through symlink", "mkdir", "out/new", 0},
		attack{"mkdir nested through symlink", "mkdir", "out/new/deeper", 0},
	)
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			p := dialRaw(t, ts)
			p.hello()
			p.send(requestFrame(t, a.op)(1, a.path))
			r := expectMsg[*wire.Reject](p)
			want := a.code
			if want == 0 {
				want = CodeInvalidPath
			}
			if r.ID != 1 || r.Code != want {
				t.Errorf("%q: got Reject{ID: %d, Code: %v, Msg: %q}, want ID 1, code %v", a.path, r.ID, r.Code, r.Msg, want)
			}
			// The session goes on.
			p.send(&wire.List{ID: 2, Path: "."})
			expectMsg[*wire.ListResult](p)
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
			ae, frames := p.expectClose()
			if got := ErrorCode(ae.ErrorCode); got != CodeProtocolViolation {
				t.Errorf("close code: got %v (%q), want %v", got, ae.ErrorMessage, CodeProtocolViolation)
			}
			if len(frames) != 0 {
				t.Errorf("frames before close: got %v, want none", frames)
			}
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

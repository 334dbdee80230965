package session

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/session/internal/wire"
)

// TestFsAttackRaw sends hostile paths in Remove, Rename and Df frames from
// a raw peer to each store, as TestPathAttackRaw does for transfers: each
// is refused with InvalidPath, nothing inside or outside the root
// changes, and the server keeps serving. The root holds "keep", a file,
// and on POSIX "out", a symbolic link to a directory outside it (an
// object store has no symlinks: those paths are POSIX-only). Df is
// refused on an S3 root whatever its path, with PermissionDenied
// (README, "S3 roots").
func TestFsAttackRaw(t *testing.T) {
	long := strings.Repeat("n", 300)
	paths := []struct {
		name  string
		path  string
		code  ErrorCode // CodeInvalidPath when zero
		posix bool      // through the symlink: POSIX only
	}{
		{name: "dotdot", path: ".."},
		{name: "dotdot first", path: "../x"},
		{name: "dotdot escaping from a subdirectory", path: "a/../../x"},
		{name: "dotdot last", path: "a/.."},
		{name: "dotdot staying inside", path: "a/../keep"},
		{name: "dotdot to a sibling prefix", path: "../" + s3Prefix + "2/secret"},
		{name: "absolute", path: "/etc/passwd"},
		{name: "absolute to root", path: "/"},
		{name: "NUL byte", path: "keep\x00b"},
		{name: "backslash dotdot", path: `..\x`},
		{name: "invalid UTF-8", path: "a\xffb"},
		{name: "300-byte name", path: long, code: CodeNameTooLong}, // its real cause (issue 13, class 11)
		{name: "the root", path: "."},
		{name: "the root, spelled empty", path: ""},
		{name: "the root, spelled ./", path: "./"},
		{name: "through the symlink", path: "out/secret", posix: true},
		{name: "a directory through the symlink", path: "out/sub", posix: true},
		{name: "a new name through the symlink", path: "out/new", posix: true},
	}
	ops := []struct {
		name  string
		frame func(id uint64, p string) wire.Message
		df    bool // Df reads: the root itself and the symlink's name are fine
	}{
		{"rm", func(id uint64, p string) wire.Message { return &wire.Remove{ID: id, Path: p} }, false},
		{"rmdir", func(id uint64, p string) wire.Message { return &wire.Remove{ID: id, Path: p, Flags: wire.RemoveDir} }, false},
		{"rename from", func(id uint64, p string) wire.Message { return &wire.Rename{ID: id, From: p, To: "new"} }, false},
		{"rename to", func(id uint64, p string) wire.Message { return &wire.Rename{ID: id, From: "keep", To: p} }, false},
		{"df", func(id uint64, p string) wire.Message { return &wire.Df{ID: id, Path: p} }, true},
	}
	forEachStore(t, ServerConfig{}, func(t *testing.T, e *storeEnv) {
		checkOutside := e.outsideSecret(t)
		e.put(t, "keep", []byte("keep"), 0o644, time.Unix(1e9, 0))
		var out string
		var held []string // all the store holds
		if e.isS3() {
			held = []string{s3Prefix + "/keep", s3Prefix + "2/secret"}
		} else {
			out = testutil.OutsideDir(t, e.ts.root)
			if err := os.Mkdir(filepath.Join(out, "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			held = []string{"keep", "out"}
		}
		for _, op := range ops {
			for _, pth := range paths {
				if op.df && (pth.path == "." || pth.path == "" || pth.path == "./") {
					continue
				}
				if pth.posix && e.isS3() {
					continue
				}
				t.Run(op.name+" "+pth.name, func(t *testing.T) {
					p := dialRaw(t, e.ts)
					p.hello()
					p.send(op.frame(1, pth.path))
					want := pth.code
					if want == 0 {
						want = CodeInvalidPath
					}
					if op.df && e.isS3() {
						want = CodePermissionDenied
					}
					r := expectMsg[*wire.Reject](p)
					if r.ID != 1 || r.Code != want {
						t.Errorf("%q: got Reject{ID: %d, Code: %v, Msg: %q}, want ID 1, code %v", pth.path, r.ID, r.Code, r.Msg, want)
					}
					// The session goes on.
					p.send(&wire.List{ID: 2, Path: "."})
					expectMsg[*wire.ListResult](p)
					p.close()
					checkOutside(t)
					if !e.isS3() {
						testutil.SameDirNames(t, "outside directory", out, "secret", "sub")
					}
					if got := e.allNames(t); !slices.Equal(got, held) {
						t.Errorf("the store holds %q, want %q", got, held)
					}
					e.sameFile(t, "keep", []byte("keep"))
				})
			}
		}
		checkServes(t, e.ts)
	})
}

// TestFsAttackSymlinkRemoved removes and renames the symbolic link that
// leads out of the root: the link itself goes or moves, never what it
// points to. POSIX only: an object store has no symlinks.
func TestFsAttackSymlinkRemoved(t *testing.T) {
	ts, c := startWithClient(t)
	out := testutil.OutsideDir(t, ts.root)
	if err := c.Rename(testCtx(t), "out", "moved"); err != nil {
		t.Fatalf("rename the link: %v", err)
	}
	if err := c.Remove(testCtx(t), "moved", true); codeOfErr(err) != CodeNotDirectory {
		t.Errorf("rmdir the link: got %v, want %v", err, CodeNotDirectory)
	}
	if err := c.Remove(testCtx(t), "moved", false); err != nil {
		t.Fatalf("rm the link: %v", err)
	}
	testutil.SameDirNames(t, "server root", ts.root)
	testutil.SameDirNames(t, "outside directory", out, "secret")
	testutil.SameFile(t, filepath.Join(out, "secret"), []byte("top secret"))
}

// TestFsAttackTooLong sends paths longer than the wire allows, to each
// store: the frame is malformed, and the server closes the connection
// with ProtocolViolation rather than answering it.
func TestFsAttackTooLong(t *testing.T) {
	long := strings.Repeat("a/", 2500) // 5000 bytes
	tests := []struct {
		name  string
		frame wire.Message
	}{
		{"rm", &wire.Remove{ID: 1, Path: long}},
		{"rename from", &wire.Rename{ID: 1, From: long, To: "x"}},
		{"rename to", &wire.Rename{ID: 1, From: "x", To: long}},
		{"df", &wire.Df{ID: 1, Path: long}},
	}
	forEachStore(t, ServerConfig{}, func(t *testing.T, e *storeEnv) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				p := dialRaw(t, e.ts)
				p.hello()
				p.send(tt.frame)
				ae, frames := p.expectClose()
				if got := ErrorCode(ae.ErrorCode); got != CodeProtocolViolation {
					t.Errorf("close code: got %v (%q), want %v", got, ae.ErrorMessage, CodeProtocolViolation)
				}
				if len(frames) != 0 {
					t.Errorf("frames before close: got %v, want none", frames)
				}
			})
		}
		if got := e.allNames(t); len(got) != 0 {
			t.Errorf("the store holds %q, want nothing", got)
		}
		checkServes(t, e.ts)
	})
}

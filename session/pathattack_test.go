package session

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/session/internal/wire"
)

// TestPathAttackRaw sends hostile paths in Put, Get, List, Stat and
// Mkdir frames (requestFrames) from a raw peer, to each store. Each must
// be refused with InvalidPath (or its real cause), create nothing inside
// or outside the root, and leave the server serving.
func TestPathAttackRaw(t *testing.T) {
	// Six names of 200 bytes: each fits a POSIX name, the whole more
	// than S3's 1024-byte key.
	longKey := strings.Repeat(strings.Repeat("k", 200)+"/", 6) + "x"
	paths := append(hostilePaths(),
		hostilePath{name: "dotdot staying inside", path: "a/../x"},
		hostilePath{name: "NUL byte", path: "a\x00b"},
		hostilePath{name: "NUL byte at end", path: "x\x00"},
		hostilePath{name: "300-byte name in a directory", path: "d/" + strings.Repeat("n", 300), code: CodeNameTooLong},
		// The S3 store's own limits (issue 16).
		hostilePath{name: "state prefix", path: ".qxfer", s3Only: true},
		hostilePath{name: "state object", path: ".qxfer/up/x.json", s3Only: true},
		hostilePath{name: "below the state prefix", path: "./.qxfer/new", s3Only: true},
		hostilePath{name: "key longer than S3 holds", path: longKey, code: CodeNameTooLong, s3Only: true},
	)
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
					p.expectRefused(pth.path, pth.refusal())
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

// TestPathAttackTooLong sends paths longer than the wire allows, in each
// request that carries one, to each store: the frame itself is
// malformed, so the server closes the connection with ProtocolViolation
// rather than answering it, and the store is left empty.
func TestPathAttackTooLong(t *testing.T) {
	long := strings.Repeat("a/", 2500) // 5000 bytes
	tests := []struct {
		name  string
		frame wire.Message
	}{
		{"put", &wire.Put{ID: 1, Path: long, Size: 1, MTime: fileTime(0)}},
		{"get", &wire.Get{ID: 1, Path: long}},
		{"list", &wire.List{ID: 1, Path: long}},
		{"mkdir", &wire.Mkdir{ID: 1, Path: long, Mode: 0o755}},
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
				p.expectClosedWith(CodeProtocolViolation)
				if got := e.allNames(t); len(got) != 0 {
					t.Errorf("the store holds %q, want nothing", got)
				}
			})
		}
		checkServes(t, e.ts)
	})
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

// hostilePath is a path a raw peer sends to attack a served root.
type hostilePath struct {
	name string
	path string
	code ErrorCode // the refusal; 0 means CodeInvalidPath (see refusal)
	// posix marks a path through the root's symbolic link "out": an
	// object store has no symlinks.
	posix bool
	// s3Only marks what only the S3 store refuses: a POSIX root holds
	// such a name, so there it is no attack.
	s3Only bool
}

// refusal is the code the server refuses p with.
func (p hostilePath) refusal() ErrorCode {
	if p.code == 0 {
		return CodeInvalidPath
	}
	return p.code
}

// hostilePaths returns the paths every request that names one must
// refuse, on each store: TestPathAttackRaw sends them in transfer and
// listing requests, TestFsAttackRaw in Remove, Rename and Df; each
// appends the paths only its requests make hostile.
func hostilePaths() []hostilePath {
	return []hostilePath{
		{name: "dotdot", path: ".."},
		{name: "dotdot first", path: "../x"},
		{name: "dotdot escaping from a subdirectory", path: "a/../../x"},
		{name: "dotdot last", path: "a/.."},
		{name: "dotdot to a sibling prefix", path: "../" + s3Prefix + "2/secret"},
		{name: "absolute", path: "/etc/passwd"},
		{name: "absolute to root", path: "/"},
		{name: "backslash dotdot", path: `..\x`},
		{name: "invalid UTF-8", path: "a\xffb"},
		// Refused for its real cause (issue 13, class 11).
		{name: "300-byte name", path: strings.Repeat("n", 300), code: CodeNameTooLong},
	}
}

// TestFsAttackRaw sends hostile paths in Remove, Rename and Df frames from
// a raw peer to each store, as TestPathAttackRaw does for transfers: each
// is refused with InvalidPath, nothing inside or outside the root
// changes, and the server keeps serving. The root holds "keep", a file,
// and on POSIX "out", a symbolic link to a directory outside it (an
// object store has no symlinks: those paths are POSIX-only). Df is
// refused on an S3 root whatever its path, with PermissionDenied
// (README, "S3 roots").
func TestFsAttackRaw(t *testing.T) {
	paths := append(hostilePaths(),
		hostilePath{name: "dotdot staying inside, to a file", path: "a/../keep"},
		hostilePath{name: "NUL byte after a file's name", path: "keep\x00b"},
		hostilePath{name: "the root", path: "."},
		hostilePath{name: "the root, spelled empty", path: ""},
		hostilePath{name: "the root, spelled ./", path: "./"},
		hostilePath{name: "through the symlink", path: "out/secret", posix: true},
		hostilePath{name: "a directory through the symlink", path: "out/sub", posix: true},
		hostilePath{name: "a new name through the symlink", path: "out/new", posix: true},
	)
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
					want := pth.refusal()
					if op.df && e.isS3() {
						want = CodePermissionDenied
					}
					p.expectRefused(pth.path, want)
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

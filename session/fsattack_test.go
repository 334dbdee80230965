package session

import (
	"os"
	"path/filepath"
	"slices"
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

package session

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// TestDiskFullPush pushes a 16 MiB file into a server root on an 8 MiB
// tmpfs. It must fail with NoSpace, leave no final file and no partial
// one, and the server must take a small file afterwards.
func TestDiskFullPush(t *testing.T) {
	root := testutil.MountTmpfs(t, "size=8m")
	ts := startServer(t, ServerConfig{Root: root}, nil)
	src := t.TempDir()
	big := filepath.Join(src, "big.bin")
	testutil.WriteRandom(t, big, 16<<20)
	c := ts.dial(t, "")
	rep, err := c.Push(testCtx(t), []string{big}, ".", Options{})
	checkReport(t, "push 16 MiB", rep, err, 1, Failed)
	if e := fileError(t, rep.Files[0]); e.Code != CodeNoSpace {
		t.Errorf("push 16 MiB: got code %v (%v), want %v", e.Code, e, CodeNoSpace)
	} else {
		t.Logf("push 16 MiB: %v", e)
	}
	testutil.NoFile(t, filepath.Join(root, "big.bin"))

	// The .part is preallocated at full size, so the full disk shows
	// before a byte is sent, and nothing is left to hold the space.
	testutil.NoFile(t, filepath.Join(root, xfer.PartName("big.bin")))
	testutil.NoFile(t, filepath.Join(root, xfer.RecordName("big.bin")))
	small := filepath.Join(src, "small.bin")
	data := testutil.WriteRandom(t, small, 1<<20)
	rep, err = c.Push(testCtx(t), []string{small}, ".", Options{})
	checkReport(t, "push 1 MiB after", rep, err, 1, Done)
	testutil.SameFile(t, filepath.Join(root, "small.bin"), data)
	testutil.NoPartials(t, root)
	checkServes(t, ts)
}

// TestDiskFullPull pulls a 16 MiB file into a local 8 MiB tmpfs: the
// client fails it with NoSpace and leaves no final file.
func TestDiskFullPull(t *testing.T) {
	ts := startServer(t, ServerConfig{}, nil)
	testutil.WriteRandom(t, filepath.Join(ts.root, "big.bin"), 16<<20)
	dst := testutil.MountTmpfs(t, "size=8m")
	c := ts.dial(t, "")
	rep, err := c.Pull(testCtx(t), []string{"big.bin"}, dst, Options{})
	checkReport(t, "pull 16 MiB", rep, err, 1, Failed)
	if e := fileError(t, rep.Files[0]); e.Code != CodeNoSpace || e.Remote {
		t.Errorf("pull 16 MiB: got code %v (remote %v: %v), want local %v", e.Code, e.Remote, e, CodeNoSpace)
	} else {
		t.Logf("pull 16 MiB: %v", e)
	}
	testutil.NoFile(t, filepath.Join(dst, "big.bin"))
	checkServes(t, ts)
}

// TestFullDiskLeavesNothing fills a 16 MiB file system with a file that
// cannot fit: the transfer fails with no_space and leaves nothing behind,
// so the next, smaller file fits. Regression: the .part of the failed
// push kept the space and every later push failed with no space.
func TestFullDiskLeavesNothing(t *testing.T) {
	for _, dir := range []Direction{Push, Pull} {
		t.Run(dir.String(), func(t *testing.T) {
			small := testutil.MountTmpfs(t, "size=16m")
			ts := startServer(t, ServerConfig{Root: map[Direction]string{Push: small, Pull: ""}[dir]}, nil)
			c := ts.dial(t, "")
			local := t.TempDir()
			src := local
			if dir == Pull {
				local, src = small, ts.root
			}
			testutil.WriteRandom(t, filepath.Join(src, "big"), 20<<20)
			want := testutil.WriteRandom(t, filepath.Join(src, "fits"), 10<<20)
			dst := map[Direction]string{Push: ts.root, Pull: local}[dir]
			for range 2 {
				f := onlyFile(t, "big", transferOf(dir, local, "big", Options{}), c)
				if e := fileError(t, f); e.Code != CodeNoSpace {
					t.Fatalf("big: got %v, want %v", e, CodeNoSpace)
				}
				testutil.NoPartials(t, dst)
				testutil.NoFile(t, filepath.Join(dst, "big"))
			}
			f := onlyFile(t, "fits", transferOf(dir, local, "fits", Options{}), c)
			if f.State != Done {
				t.Fatalf("fits: got %v (%v), want done", f.State, f.Err)
			}
			testutil.SameFile(t, filepath.Join(dst, "fits"), want)
			testutil.NoPartials(t, dst)
		})
	}
}

// TestReadOnlyDestination pushes into a read-only tmpfs, as the server
// root and as a subdirectory of it. The open of the .part fails with
// EROFS, which the server reports as ReadOnly; pulls from it still work.
func TestReadOnlyDestination(t *testing.T) {
	tests := []struct {
		name string
		sub  string // where the read-only mount sits under the root; "" for the root itself
	}{
		{"root", ""},
		{"subdirectory", "ro"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mnt := testutil.MountTmpfs(t, "size=8m")
			existing := testutil.WriteRandom(t, filepath.Join(mnt, "there.bin"), 300<<10)
			testutil.RemountRO(t, mnt)
			var ts *testServer
			if tt.sub == "" {
				ts = startServer(t, ServerConfig{Root: mnt}, nil)
			} else {
				// Bind the read-only tmpfs onto a directory of an
				// otherwise writable root.
				root := t.TempDir()
				if err := os.Mkdir(filepath.Join(root, tt.sub), 0o755); err != nil {
					t.Fatal(err)
				}
				testutil.BindMount(t, mnt, filepath.Join(root, tt.sub))
				ts = startServer(t, ServerConfig{Root: root}, nil)
			}
			dest := tt.sub
			if dest == "" {
				dest = "."
			}
			local := filepath.Join(t.TempDir(), "new.bin")
			testutil.WriteRandom(t, local, 100<<10)
			c := ts.dial(t, "")
			rep, err := c.Push(testCtx(t), []string{local}, dest, Options{})
			checkReport(t, "push", rep, err, 1, Failed)
			e := fileError(t, rep.Files[0])
			// EROFS is checked before EACCES in codeOf, and root is
			// never refused for permissions, so ReadOnly is the one
			// honest answer here.
			if e.Code != CodeReadOnly {
				t.Errorf("push: got code %v (%v), want %v", e.Code, e, CodeReadOnly)
			} else {
				t.Logf("push: %v", e)
			}
			testutil.NoFile(t, filepath.Join(mnt, "new.bin"))
			testutil.NoFile(t, filepath.Join(mnt, xfer.PartName("new.bin")))

			dst := t.TempDir()
			rep, err = c.Pull(testCtx(t), []string{joinPath(tt.sub, "there.bin")}, dst, Options{})
			checkReport(t, "pull", rep, err, 1, Done)
			testutil.SameFile(t, filepath.Join(dst, "there.bin"), existing)
			if tt.sub != "" {
				checkServes(t, ts)
			}
		})
	}
}

// TestPermissionDeniedSource would check a source the server cannot read.
func TestPermissionDeniedSource(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("as root (CAP_DAC_OVERRIDE) no mode bits make a file unreadable, so EACCES cannot be provoked honestly; CodePermissionDenied mapping is covered by codeOf")
	}
	ts := startServer(t, ServerConfig{}, nil)
	p := filepath.Join(ts.root, "locked.bin")
	testutil.WriteRandom(t, p, 1000)
	if err := os.Chmod(p, 0); err != nil {
		t.Fatal(err)
	}
	c := ts.dial(t, "")
	rep, err := c.Pull(testCtx(t), []string{"locked.bin"}, t.TempDir(), Options{})
	checkReport(t, "pull", rep, err, 1, Failed)
	if e := fileError(t, rep.Files[0]); e.Code != CodePermissionDenied {
		t.Errorf("pull: got code %v (%v), want %v", e.Code, e, CodePermissionDenied)
	}
	checkServes(t, ts)
}

// TestSourceChangedDuringPush overwrites part of a 64 MiB source (same
// size, new content and mtime) while it is pushed through a 100 Mbit/s
// link. The push must fail with SourceChanged, or HashMismatch if the
// receiver caught it first, never Done; no final file may appear; the
// next push delivers the new content.
func TestSourceChangedDuringPush(t *testing.T) {
	ts := startServer(t, ServerConfig{}, nil)
	const size = 64 << 20
	local := filepath.Join(t.TempDir(), "moving.bin")
	testutil.WriteRandom(t, local, size)
	done := pushUnderWay(t, ts, 100e6, local, "moving.bin", 8<<20)
	// Overwrite 1 MiB in the second half, not yet read.
	f, err := os.OpenFile(local, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	patch := make([]byte, 1<<20)
	for i := range patch {
		patch[i] = byte(i * 7)
	}
	if _, err := f.WriteAt(patch, 48<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(local, later, later); err != nil {
		t.Fatal(err)
	}
	newData, err := os.ReadFile(local)
	if err != nil {
		t.Fatal(err)
	}
	res := <-done
	checkReport(t, "push", res.rep, res.err, 1, Failed)
	e := fileError(t, res.rep.Files[0])
	if e.Code != CodeSourceChanged && e.Code != CodeHashMismatch {
		t.Errorf("push: got code %v (%v), want %v or %v", e.Code, e, CodeSourceChanged, CodeHashMismatch)
	} else {
		t.Logf("push: %v", e)
	}
	testutil.NoFile(t, filepath.Join(ts.root, "moving.bin"))

	// The client reports its own failure at once and does not wait for
	// the server's Done; the server ends the transfer when the stream
	// reset reaches it through the link's queue. Until then a new push of
	// the same file is refused as Busy.
	testutil.Eventually(t, rawTimeout, "the server to end the failed push", func() bool { return ts.srv.Transfers().Len() == 0 })
	c2 := ts.dial(t, "")
	rep, err := c2.Push(testCtx(t), []string{local}, ".", Options{})
	checkReport(t, "push again", rep, err, 1, Done)
	testutil.SameFile(t, filepath.Join(ts.root, "moving.bin"), newData)
	testutil.NoPartials(t, ts.root)
	checkServes(t, ts)
}

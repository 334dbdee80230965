package session

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// fsTree fills a server root for the file commands: a file, an empty
// directory, a directory holding a file, and a symbolic link to a file.
func fsTree(t *testing.T, root string) {
	t.Helper()
	for _, d := range []string{"empty", "full"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"a.txt", "full/in.txt"} {
		if err := os.WriteFile(filepath.Join(root, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("a.txt", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
}

// TestRemoveRename runs each outcome of Remove and Rename through a real
// client and server and checks the tree afterwards: what was asked for
// happened, and nothing else.
func TestRemoveRename(t *testing.T) {
	tests := []struct {
		name     string
		op       func(c *clientConn) error
		wantCode ErrorCode // CodeOK: success
		gone     []string  // names that must no longer exist
		kept     []string  // names that must still exist
	}{
		{"rm file", func(c *clientConn) error { return c.Remove(testCtx(t), "a.txt", false) }, CodeOK, []string{"a.txt"}, []string{"link", "full/in.txt"}},
		{"rm symlink removes the link only", func(c *clientConn) error { return c.Remove(testCtx(t), "link", false) }, CodeOK, []string{"link"}, []string{"a.txt"}},
		{"rm file in a directory", func(c *clientConn) error { return c.Remove(testCtx(t), "full/in.txt", false) }, CodeOK, []string{"full/in.txt"}, []string{"full"}},
		{"rm missing", func(c *clientConn) error { return c.Remove(testCtx(t), "nosuch", false) }, CodeNotFound, nil, []string{"a.txt"}},
		{"rm directory", func(c *clientConn) error { return c.Remove(testCtx(t), "empty", false) }, CodeNotRegular, nil, []string{"empty"}},
		{"rmdir empty", func(c *clientConn) error { return c.Remove(testCtx(t), "empty", true) }, CodeOK, []string{"empty"}, []string{"full"}},
		{"rmdir not empty", func(c *clientConn) error { return c.Remove(testCtx(t), "full", true) }, CodeNotEmpty, nil, []string{"full/in.txt"}},
		{"rmdir file", func(c *clientConn) error { return c.Remove(testCtx(t), "a.txt", true) }, CodeNotDirectory, nil, []string{"a.txt"}},
		{"rmdir symlink", func(c *clientConn) error { return c.Remove(testCtx(t), "link", true) }, CodeNotDirectory, nil, []string{"link"}},
		{"rename file", func(c *clientConn) error { return c.Rename(testCtx(t), "a.txt", "b.txt") }, CodeOK, []string{"a.txt"}, []string{"b.txt"}},
		{"rename into a directory", func(c *clientConn) error { return c.Rename(testCtx(t), "a.txt", "empty/a.txt") }, CodeOK, []string{"a.txt"}, []string{"empty/a.txt"}},
		{"rename directory", func(c *clientConn) error { return c.Rename(testCtx(t), "full", "moved") }, CodeOK, []string{"full"}, []string{"moved/in.txt"}},
		{"rename onto a file", func(c *clientConn) error { return c.Rename(testCtx(t), "a.txt", "full/in.txt") }, CodeExists, nil, []string{"a.txt", "full/in.txt"}},
		{"rename onto an empty directory", func(c *clientConn) error { return c.Rename(testCtx(t), "full", "empty") }, CodeExists, nil, []string{"full/in.txt", "empty"}},
		{"rename onto a symlink", func(c *clientConn) error { return c.Rename(testCtx(t), "full/in.txt", "link") }, CodeExists, nil, []string{"full/in.txt", "link"}},
		{"rename missing", func(c *clientConn) error { return c.Rename(testCtx(t), "nosuch", "x") }, CodeNotFound, []string{"x"}, nil},
		{"rename into a missing directory", func(c *clientConn) error { return c.Rename(testCtx(t), "a.txt", "nodir/a.txt") }, CodeNotFound, []string{"nodir"}, []string{"a.txt"}},
		{"rename directory into itself", func(c *clientConn) error { return c.Rename(testCtx(t), "full", "full/sub") }, CodeInvalidPath, []string{"full/sub"}, []string{"full/in.txt"}},
		{"rename onto itself", func(c *clientConn) error { return c.Rename(testCtx(t), "a.txt", "./a.txt") }, CodeInvalidPath, nil, []string{"a.txt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachStore(t, ServerConfig{}, func(t *testing.T, e *storeEnv) {
				c := e.ts.dial(t, "")
				e.fsTree(t)
				err := tt.op(c)
				if got := codeOfErr(err); tt.wantCode == CodeOK && err != nil || tt.wantCode != CodeOK && got != tt.wantCode {
					t.Fatalf("got %v (code %v), want code %v", err, got, tt.wantCode)
				}
				for _, n := range tt.gone {
					if e.exists(t, n) {
						t.Errorf("%s: got it there, want it gone", n)
					}
				}
				for _, n := range tt.kept {
					if !e.exists(t, n) {
						t.Errorf("%s: got it gone, want it there", n)
					}
				}
				// The session goes on.
				if _, err := c.Stat(testCtx(t), "."); err != nil {
					t.Errorf("stat after: %v", err)
				}
			})
		})
	}
}

// fsTree is fsTree on the store. An object store has no symbolic links:
// there "link" is a plain file, and the cases about the link check what
// they check of any file that is not a directory.
func (e *storeEnv) fsTree(t *testing.T) {
	t.Helper()
	if !e.isS3() {
		fsTree(t, e.dir)
		return
	}
	for _, d := range []string{"empty", "full"} {
		e.mkdir(t, d)
	}
	for _, f := range []string{"a.txt", "full/in.txt", "link"} {
		e.put(t, f, []byte(f), 0o644, fileTime(0))
	}
}

// TestRenameKeepsFile renames a multipart file and a directory holding
// it, on each store: content, mode and mtime stay, the old names are
// gone, and the file pulls back whole.
func TestRenameKeepsFile(t *testing.T) {
	forEachStore(t, ServerConfig{}, func(t *testing.T, e *storeEnv) {
		c := e.ts.dial(t, "")
		src := t.TempDir()
		files := []testFile{{"d/big.bin", 2*testPartSize + 3, 0o640}, {"d/small", 10, 0o600}}
		data := makeTree(t, src, files, nil)
		rep, err := c.Push(longCtx(t), []string{filepath.Join(src, "d")}, ".", Options{Recursive: true})
		checkReport(t, "push", rep, err, 2, Done)
		if err := c.Rename(testCtx(t), "d/big.bin", "d/moved.bin"); err != nil {
			t.Fatalf("rename file: %v", err)
		}
		if err := c.Rename(testCtx(t), "d", "e"); err != nil {
			t.Fatalf("rename directory: %v", err)
		}
		for _, gone := range []string{"d", "d/big.bin", "d/moved.bin", "e/big.bin"} {
			if e.exists(t, gone) {
				t.Errorf("%s: got it there, want it gone", gone)
			}
		}
		moved := []testFile{{"moved.bin", files[0].size, files[0].mode}, {"small", files[1].size, files[1].mode}}
		e.checkTree(t, "e", moved, nil, map[string][]byte{"moved.bin": data["d/big.bin"], "small": data["d/small"]})
		e.noPartials(t)
		dst := t.TempDir()
		rep, err = c.Pull(longCtx(t), []string{"e/moved.bin"}, dst, Options{})
		checkReport(t, "pull", rep, err, 1, Done)
		testutil.SameFile(t, filepath.Join(dst, "moved.bin"), data["d/big.bin"])
	})
}

// TestDf asks for the file system of the root and of a file in it: the
// numbers are those of the file system, and a missing path is NotFound.
func TestDf(t *testing.T) {
	ts, c := startWithClient(t)
	fsTree(t, ts.root)
	for _, p := range []string{".", "a.txt", "full"} {
		d, err := c.Df(testCtx(t), p)
		if err != nil {
			t.Fatalf("df %s: %v", p, err)
		}
		if d.Total == 0 || d.Free > d.Total || d.Avail > d.Total || d.FilesFree > d.Files {
			t.Errorf("df %s: got %+v, want 0 < Total, Free and Avail at most Total, FilesFree at most Files", p, d)
		}
	}
	if _, err := c.Df(testCtx(t), "nosuch"); codeOfErr(err) != CodeNotFound {
		t.Errorf("df nosuch: got %v, want %v", err, CodeNotFound)
	}
}

// TestFsReadOnly checks that a read-only server refuses every request that
// changes its tree, even for names that do not exist, and still answers
// Df.
func TestFsReadOnly(t *testing.T) {
	ts := startServer(t, ServerConfig{ReadOnly: true}, nil)
	fsTree(t, ts.root)
	c := ts.dial(t, "")
	ops := []struct {
		name string
		op   func() error
	}{
		{"rm", func() error { return c.Remove(testCtx(t), "a.txt", false) }},
		{"rm missing", func() error { return c.Remove(testCtx(t), "nosuch", false) }},
		{"rmdir", func() error { return c.Remove(testCtx(t), "empty", true) }},
		{"rename", func() error { return c.Rename(testCtx(t), "a.txt", "b.txt") }},
		{"rename directory", func() error { return c.Rename(testCtx(t), "full", "moved") }},
	}
	for _, o := range ops {
		if err := o.op(); codeOfErr(err) != CodeReadOnly {
			t.Errorf("%s: got %v, want %v", o.name, err, CodeReadOnly)
		}
	}
	testutil.SameDirNames(t, "server root", ts.root, "a.txt", "empty", "full", "link")
	testutil.SameDirNames(t, "full", filepath.Join(ts.root, "full"), "in.txt")
	if _, err := c.Df(testCtx(t), "."); err != nil {
		t.Errorf("df on a read-only server: %v", err)
	}
}

// TestFsBusy removes and renames names a push is writing, on each
// store: refused with Busy, and the push still completes.
func TestFsBusy(t *testing.T) {
	forEachStore(t, ServerConfig{}, func(t *testing.T, e *storeEnv) { testFsBusy(t, e) })
}

func testFsBusy(t *testing.T, e *storeEnv) {
	e.mkdir(t, "d")
	p := dialRaw(t, e.ts)
	p.hello()
	data := []byte("0123456789")
	p.send(&wire.Put{ID: 1, Path: "d/f", Size: uint64(len(data)), Mode: 0o644, MTime: fileTime(0)})
	expectMsg[*wire.Accept](p)
	refused := []struct {
		name string
		msg  wire.Message
	}{
		{"rm the file", &wire.Remove{ID: 2, Path: "d/f"}},
		{"rename the file", &wire.Rename{ID: 3, From: "d/f", To: "g"}},
		{"rename onto the file", &wire.Rename{ID: 4, From: "d", To: "d/f"}},
		{"rename its directory", &wire.Rename{ID: 5, From: "d", To: "e"}},
	}
	for _, r := range refused {
		p.send(r.msg)
		if rej := expectMsg[*wire.Reject](p); rej.Code != CodeBusy {
			t.Errorf("%s: got %v %q, want %v", r.name, rej.Code, rej.Msg, CodeBusy)
		}
	}
	p.send(&wire.Remove{ID: 6, Path: "d", Flags: wire.RemoveDir})
	if rej := expectMsg[*wire.Reject](p); rej.Code != CodeNotEmpty {
		t.Errorf("rmdir of the directory: got %v %q, want %v", rej.Code, rej.Msg, CodeNotEmpty)
	}
	p.sendFile(1, data, xfer.FileHash(data))
	if d := expectMsg[*wire.Done](p); d.Code != CodeOK {
		t.Fatalf("push: got Done %v %q, want success", d.Code, d.Msg)
	}
	p.close()
	e.sameFile(t, "d/f", data)
	checkServes(t, e.ts)
}

// TestFsUnsupported sends, through the fence of Remove, Rename and Df, a
// request the server does not know (a frame type it skips), as a server
// of an older qxfer does with these: the client says so at once rather
// than waiting forever.
func TestFsUnsupported(t *testing.T) {
	_, c := startWithClient(t)
	_, err := fenced[*wire.OK](testCtx(t), c, "x", func(id uint64) wire.Message { return &wire.Unknown{FrameType: 0x3f, Length: 2} })
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("got %v, want %v", err, ErrUnsupported)
	}
	if _, err := c.Stat(testCtx(t), "."); err != nil {
		t.Errorf("stat after: %v", err)
	}
}

// TestListPacked: a client lists through ListPacked when the server has
// the feature, and through List when the server predates it (it skips
// Features and ListPacked as unknown frames); both give every entry as
// the directory holds it (names sharing prefixes or not, modes, sizes,
// mtimes, kinds), over several frames for a big directory; a pull of
// the tree and a no-op push over either arrive the same.
func TestListPacked(t *testing.T) {
	for _, old := range []bool{false, true} {
		t.Run(fmt.Sprintf("predates=%v", old), func(t *testing.T) {
			// Set before the client connects: it asks right after the
			// welcome.
			ts := startServer(t, ServerConfig{}, nil)
			ts.srv.predatesFeatures.Store(old)
			c := ts.dial(t, "")
			ctx := longCtx(t)
			dir := filepath.Join(ts.root, "d")
			base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
			const n = 700 // names of about 200 bytes: several frames (MaxFrameSize)
			for i := range n {
				name := fmt.Sprintf("%s_%04d_%s", strings.Repeat("p", 150), i, strings.Repeat("x", i%40))
				p := filepath.Join(dir, name)
				testutil.WriteRandom(t, p, i%7)
				if i%3 == 0 {
					os.Chmod(p, 0o600)
				}
				mt := base
				if i%5 == 0 {
					mt = base.Add(time.Duration(i) * time.Nanosecond)
				}
				if err := os.Chtimes(p, mt, mt); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Mkdir(filepath.Join(dir, "sub"), 0o750); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("nowhere", filepath.Join(dir, "dangling")); err != nil {
				t.Fatal(err)
			}
			got, err := c.List(ctx, "d")
			if err != nil {
				t.Fatal(err)
			}
			if packed, _ := c.has(ctx, wire.FeatureListPacked); packed == old {
				t.Errorf("packed listing used: %v, want %v", packed, !old)
			}
			des, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(des) {
				t.Fatalf("listed %d entries, want %d", len(got), len(des))
			}
			slices.SortFunc(got, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
			for i, de := range des {
				fi, err := de.Info()
				if err != nil {
					t.Fatal(err)
				}
				e := got[i]
				want := Entry{Name: de.Name(), Kind: KindFile, Size: fi.Size(), Mode: fi.Mode().Perm(), MTime: fi.ModTime()}
				switch {
				case fi.IsDir():
					want.Kind, want.Size = KindDir, e.Size
				case fi.Mode()&os.ModeSymlink != 0:
					want.Kind, want.Size = KindSymlink, 0
				}
				if e.Name != want.Name || e.Kind != want.Kind || e.Size != want.Size || e.Mode != want.Mode || !e.MTime.Equal(want.MTime) {
					t.Errorf("entry %d: got %+v, want %+v", i, e, want)
				}
			}
			os.Remove(filepath.Join(dir, "dangling"))
			local := t.TempDir()
			rep, err := c.Pull(ctx, []string{"d"}, local, Options{Recursive: true})
			checkReport(t, "pull", rep, err, n, Done)
			rep, err = c.Push(ctx, []string{filepath.Join(local, "d")}, ".", Options{Recursive: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range rep.Files {
				if !isUpToDate(f) {
					t.Errorf("no-op push: %s: %s (%v), want up to date", f.Path, f.State, f.Err)
				}
			}
		})
	}
}

// TestFeaturesAskedAhead: a client asks its server's features right
// after the welcome, before anything needs them, so that the first
// listing of a push or pull waits for no round trip of its own; the
// listings that follow use the answer and ask nothing again.
func TestFeaturesAskedAhead(t *testing.T) {
	ts, c := startWithClient(t)
	features := func() float64 {
		return valueIn(scrape(t, ts.srv), "qxfer_requests_total", map[string]string{"type": "features"})
	}
	testutil.Eventually(t, 5*time.Second, "the features question", func() bool { return features() == 1 })
	ctx := testCtx(t)
	for range 3 {
		if _, err := c.List(ctx, "."); err != nil {
			t.Fatal(err)
		}
	}
	if packed, err := c.has(ctx, wire.FeatureListPacked); err != nil || !packed {
		t.Errorf("packed listing: %v, %v; want true", packed, err)
	}
	if got := features(); got != 1 {
		t.Errorf("the server was asked its features %v times, want once", got)
	}
}

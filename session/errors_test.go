package session

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// TestMissingSource checks that a source that does not exist fails alone,
// with CodeNotFound and an error naming it, while the rest of its batch
// completes.
func TestMissingSource(t *testing.T) {
	tests := []struct {
		name    string
		dir     Direction
		names   []string // sources in order
		missing string   // the one that does not exist
	}{
		{"push one missing file", Push, []string{"gone.txt"}, "gone.txt"},
		{"push batch with a missing file", Push, []string{"a.bin", "gone.txt", "b.bin"}, "gone.txt"},
		{"pull one missing file", Pull, []string{"gone.txt"}, "gone.txt"},
		{"pull batch with a missing file", Pull, []string{"a.bin", "gone.txt", "b.bin"}, "gone.txt"},
	}
	sizes := map[string]int{"a.bin": 2 << 20, "b.bin": 1000}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, c := startWithClient(t)
			ctx := testCtx(t)
			local := t.TempDir()
			srcDir, dstDir := local, filepath.Join(ts.root, "in")
			if tt.dir == Pull {
				srcDir, dstDir = dstDir, local
			}
			data := make(map[string][]byte)
			var sources []string
			for _, n := range tt.names {
				if n != tt.missing {
					data[n] = testutil.WriteRandom(t, filepath.Join(srcDir, n), sizes[n])
				}
				if tt.dir == Push {
					sources = append(sources, filepath.Join(local, n))
				} else {
					sources = append(sources, "in/"+n)
				}
			}
			var rep *Report
			var err error
			if tt.dir == Push {
				rep, err = c.Push(ctx, sources, "in", Options{})
			} else {
				rep, err = c.Pull(ctx, sources, local, Options{})
			}
			if err != nil {
				t.Fatalf("%v: got %v, want per-file results", tt.dir, err)
			}
			if len(rep.Files) != len(tt.names) {
				t.Fatalf("got %d files in the report, want %d: %+v", len(rep.Files), len(tt.names), rep.Files)
			}
			for i, n := range tt.names {
				f := rep.Files[i]
				if n != tt.missing {
					if f.State != Done {
						t.Errorf("%s: got state %v (err %v), want %v", n, f.State, f.Err, Done)
					}
					testutil.SameFile(t, filepath.Join(dstDir, n), data[n])
					continue
				}
				if f.State != Failed {
					t.Errorf("%s: got state %v, want %v", n, f.State, Failed)
				}
				e := fileError(t, f)
				if e.Code != CodeNotFound {
					t.Errorf("%s: got code %v (%v), want %v", n, e.Code, e, CodeNotFound)
				}
				if e.Path != sources[i] {
					t.Errorf("%s: error names %q (%v), want %q", n, e.Path, e, sources[i])
				}
				if _, err := os.Lstat(filepath.Join(dstDir, n)); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s: destination: got %v, want it not to exist", n, err)
				}
			}
			var be *BatchError
			if err := rep.Err(); !errors.As(err, &be) || be.Failed != 1 || be.Cancelled != 0 {
				t.Errorf("report error: got %v, want a *BatchError with 1 failed file", err)
			}
			testutil.NoPartials(t, ts.root)
			testutil.NoPartials(t, local)
		})
	}
}

// TestPathEscapes checks that no request reaches outside the served root,
// neither by its name nor through a symlink inside the root.
func TestPathEscapes(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	other := filepath.Join(base, "other") // outside the root
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	secret := testutil.WriteRandom(t, filepath.Join(other, "secret"), 100)
	if err := os.Symlink(other, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, ServerConfig{Root: root}, nil)
	c := ts.dial(t, "")
	ctx := testCtx(t)
	local := t.TempDir()
	x := filepath.Join(local, "x")
	testutil.WriteRandom(t, x, 100)
	dst := t.TempDir()

	// pushCode is the code of a push that fails as a whole or in its only
	// file.
	pushCode := func(rep *Report, err error) ErrorCode {
		if err != nil {
			return codeOfErr(err)
		}
		if len(rep.Files) != 1 {
			t.Fatalf("got %d files in the report, want 1", len(rep.Files))
		}
		return codeOfErr(rep.Files[0].Err)
	}
	clientOps := []struct {
		name string
		op   func() ErrorCode
	}{
		{"push to ../outside", func() ErrorCode { return pushCode(c.Push(ctx, []string{x}, "../outside", Options{})) }},
		{"push to a/../../outside", func() ErrorCode { return pushCode(c.Push(ctx, []string{x}, "a/../../outside", Options{})) }},
		{"push into symlink", func() ErrorCode { return pushCode(c.Push(ctx, []string{x}, "link", Options{})) }},
		{"push below symlink", func() ErrorCode { return pushCode(c.Push(ctx, []string{x}, "link/sub", Options{})) }},
		{"pull through symlink", func() ErrorCode { return pushCode(c.Pull(ctx, []string{"link/secret"}, dst, Options{})) }},
		{"pull symlink dir", func() ErrorCode { return pushCode(c.Pull(ctx, []string{"link"}, dst, Options{Recursive: true})) }},
		{"mkdir ../outside", func() ErrorCode { return codeOfErr(c.Mkdir(ctx, "../outside")) }},
		{"mkdir through symlink", func() ErrorCode { return codeOfErr(c.Mkdir(ctx, "link/new")) }},
		{"stat through symlink", func() ErrorCode { _, err := c.Stat(ctx, "link/secret"); return codeOfErr(err) }},
		{"list symlink", func() ErrorCode { _, err := c.List(ctx, "link"); return codeOfErr(err) }},
		{"list ..", func() ErrorCode { _, err := c.List(ctx, ".."); return codeOfErr(err) }},
	}
	for _, tt := range clientOps {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.op(); got != CodeInvalidPath {
				t.Errorf("got code %v, want %v", got, CodeInvalidPath)
			}
		})
	}

	// The client checks some paths itself; a raw peer shows the server
	// refuses them too.
	p := dialRaw(t, ts)
	p.hello()
	mtime := time.Now()
	rawOps := []struct {
		name string
		msg  func(id uint64) wire.Message
	}{
		{"put ../outside/x", func(id uint64) wire.Message { return &wire.Put{ID: id, Path: "../outside/x", Size: 1, MTime: mtime} }},
		{"put a/../../outside", func(id uint64) wire.Message { return &wire.Put{ID: id, Path: "a/../../outside", Size: 1, MTime: mtime} }},
		{"put absolute", func(id uint64) wire.Message {
			return &wire.Put{ID: id, Path: filepath.Join(other, "abs"), Size: 1, MTime: mtime}
		}},
		{"put through symlink", func(id uint64) wire.Message { return &wire.Put{ID: id, Path: "link/x", Size: 1, MTime: mtime} }},
		{"put over symlink target", func(id uint64) wire.Message {
			return &wire.Put{ID: id, Path: "link/secret", Size: 1, MTime: mtime, Flags: wire.FlagForce}
		}},
		{"get ../root/link/secret", func(id uint64) wire.Message { return &wire.Get{ID: id, Path: "../root/link/secret"} }},
		{"get through symlink", func(id uint64) wire.Message { return &wire.Get{ID: id, Path: "link/secret"} }},
		{"get with NUL", func(id uint64) wire.Message { return &wire.Get{ID: id, Path: "link\x00/secret"} }},
		{"mkdir ../outside", func(id uint64) wire.Message { return &wire.Mkdir{ID: id, Path: "../outside", Mode: 0o755} }},
		{"mkdir through symlink", func(id uint64) wire.Message { return &wire.Mkdir{ID: id, Path: "link/new", Mode: 0o755} }},
		{"stat ..", func(id uint64) wire.Message { return &wire.Stat{ID: id, Path: ".."} }},
		{"list through symlink", func(id uint64) wire.Message { return &wire.List{ID: id, Path: "link"} }},
	}
	for i, tt := range rawOps {
		t.Run("raw "+tt.name, func(t *testing.T) {
			id := uint64(i + 1)
			p.send(tt.msg(id))
			r := expectMsg[*wire.Reject](p)
			if r.ID != id || r.Code != CodeInvalidPath {
				t.Errorf("got Reject{ID: %d, Code: %v, Msg: %q}, want ID %d, code %v", r.ID, r.Code, r.Msg, id, CodeInvalidPath)
			}
		})
	}

	if got, want := testutil.DirNames(t, base), []string{"other", "root"}; !slices.Equal(got, want) {
		t.Errorf("outside the root: got %q, want %q", got, want)
	}
	if got, want := testutil.DirNames(t, other), []string{"secret"}; !slices.Equal(got, want) {
		t.Errorf("symlink target: got %q, want %q", got, want)
	}
	testutil.SameFile(t, filepath.Join(other, "secret"), secret)
	if got, want := testutil.DirNames(t, root), []string{"link"}; !slices.Equal(got, want) {
		t.Errorf("root: got %q, want %q", got, want)
	}
	if got := testutil.DirNames(t, dst); len(got) != 0 {
		t.Errorf("pull destination: got %q, want it empty", got)
	}
	checkServes(t, ts)
}

// TestReadOnly checks that a read-only server refuses every write but
// still serves reads.
func TestReadOnly(t *testing.T) {
	root := t.TempDir()
	pub := testutil.WriteRandom(t, filepath.Join(root, "pub", "f.bin"), 2<<20)
	ts := startServer(t, ServerConfig{Root: root, ReadOnly: true}, nil)
	c := ts.dial(t, "")
	ctx := testCtx(t)
	local := t.TempDir()
	small := filepath.Join(local, "small.txt")
	large := filepath.Join(local, "large.bin")
	other := filepath.Join(local, "f.bin")
	testutil.WriteRandom(t, small, 1000)
	testutil.WriteRandom(t, large, 3<<20)
	testutil.WriteRandom(t, other, 100)

	tests := []struct {
		name      string
		op        func() (*Report, error)
		wantBatch bool // the whole call fails (its Mkdir is refused), not a file
	}{
		{"push small into root", func() (*Report, error) { return c.Push(ctx, []string{small}, ".", Options{}) }, false},
		{"push large into root", func() (*Report, error) { return c.Push(ctx, []string{large}, ".", Options{}) }, false},
		{"push several into root", func() (*Report, error) { return c.Push(ctx, []string{small, large}, ".", Options{Force: true}) }, false},
		{"push into new directory", func() (*Report, error) { return c.Push(ctx, []string{small}, "in", Options{}) }, true},
		{"push over existing with force", func() (*Report, error) { return c.Push(ctx, []string{other}, "pub", Options{Force: true}) }, true},
		{"mkdir", func() (*Report, error) { return nil, c.Mkdir(ctx, "newdir") }, true},
		{"mkdir existing", func() (*Report, error) { return nil, c.Mkdir(ctx, "pub") }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := tt.op()
			if tt.wantBatch {
				if got := codeOfErr(err); got != CodeReadOnly {
					t.Fatalf("got %v (code %v), want code %v", err, got, CodeReadOnly)
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v, want per-file results", err)
			}
			if len(rep.Files) == 0 {
				t.Fatal("got an empty report")
			}
			for _, f := range rep.Files {
				if f.State != Failed {
					t.Errorf("%s: got state %v, want %v", f.Path, f.State, Failed)
				}
				if e := fileError(t, f); e.Code != CodeReadOnly || !e.Remote {
					t.Errorf("%s: got %v (code %v, remote %v), want code %v from the server", f.Path, e, e.Code, e.Remote, CodeReadOnly)
				}
			}
		})
	}
	if got, want := testutil.DirNames(t, root), []string{"pub"}; !slices.Equal(got, want) {
		t.Errorf("root: got %q, want %q", got, want)
	}
	if got, want := testutil.DirNames(t, filepath.Join(root, "pub")), []string{"f.bin"}; !slices.Equal(got, want) {
		t.Errorf("root/pub: got %q, want %q", got, want)
	}
	testutil.SameFile(t, filepath.Join(root, "pub", "f.bin"), pub)

	dst := t.TempDir()
	rep, err := c.Pull(ctx, []string{"pub"}, dst, Options{Recursive: true})
	checkReport(t, "pull", rep, err, 1, Done)
	testutil.SameFile(t, filepath.Join(dst, "pub", "f.bin"), pub)
	ents, err := c.List(ctx, "pub")
	if err != nil || len(ents) != 1 || ents[0].Name != "f.bin" {
		t.Errorf("list: got %+v, %v, want f.bin", ents, err)
	}
	testutil.NoPartials(t, dst)
}

// TestClientVanishesMidFile closes a connection in the middle of a file:
// the server keeps what it received in the .part file, never shows a
// final file, and goes on serving.
func TestClientVanishesMidFile(t *testing.T) {
	ts := startServer(t, ServerConfig{}, nil)
	const size, half = 8 << 20, 4 << 20
	data := testutil.WriteRandom(t, filepath.Join(t.TempDir(), "vanish.bin"), size)
	p := dialRaw(t, ts)
	p.hello()
	p.send(&wire.Put{ID: 1, Path: "vanish.bin", Size: size, Mode: 0o644, MTime: fileTime(0)})
	expectMsg[*wire.Accept](p)
	ws := p.openRange(1, 0, size)
	if _, err := ws.Write(data[:half]); err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(ts.root, xfer.PartName("vanish.bin"))
	waitReceived(t, ts, "vanish.bin", half)
	if n := ts.srv.Transfers().Len(); n != 1 {
		t.Fatalf("server table while receiving: got %d live transfers, want 1", n)
	}
	p.conn.CloseWithError(quic.ApplicationErrorCode(CodeInterrupted), "gone")
	testutil.Eventually(t, rawTimeout, "the server to drop the transfer", func() bool { return ts.srv.Transfers().Len() == 0 })

	// The .part is preallocated at full size and holds what arrived.
	if got, err := os.ReadFile(part); err != nil || len(got) != size || !bytes.Equal(got[:half], data[:half]) {
		t.Errorf(".part: got %d bytes (%v), want %d starting with the %d received", len(got), err, size, half)
	}
	if _, err := os.Lstat(filepath.Join(ts.root, "vanish.bin")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("final file: got %v, want it not to exist", err)
	}
	checkServes(t, ts)

	// A new push of the same file replaces the partial one.
	c := ts.dial(t, "")
	local := filepath.Join(t.TempDir(), "vanish.bin")
	if err := os.WriteFile(local, data, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := c.Push(testCtx(t), []string{local}, ".", Options{})
	checkReport(t, "push after vanish", rep, err, 1, Done)
	testutil.SameFile(t, filepath.Join(ts.root, "vanish.bin"), data)
	testutil.NoPartials(t, ts.root)
}

// TestNoGoroutineLeak runs transfers and raw-peer failures against one
// server, then stops everything and checks that no goroutine is left.
func TestNoGoroutineLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	ts := startServer(t, ServerConfig{StreamWait: time.Second}, nil)
	ctx := testCtx(t)
	src := t.TempDir()
	files := []testFile{
		{"tree/a", 10, 0o644}, {"tree/b", 300 << 10, 0o644}, {"tree/c/d", 2 << 20, 0o600}, {"tree/c/e", 0, 0o644},
	}
	makeTree(t, src, files, []string{"tree/empty"})
	var clients []*clientConn
	for i := range 3 {
		c := ts.dial(t, "")
		clients = append(clients, c)
		dir := "c" + string(rune('0'+i))
		rep, err := c.Push(ctx, []string{filepath.Join(src, "tree")}, dir, Options{Recursive: true})
		checkReport(t, "push", rep, err, len(files), Done)
		rep, err = c.Pull(ctx, []string{dir}, t.TempDir(), Options{Recursive: true})
		checkReport(t, "pull", rep, err, len(files), Done)
		rep, err = c.Pull(ctx, []string{"missing"}, t.TempDir(), Options{})
		checkReport(t, "pull missing", rep, err, 1, Failed)
	}

	var peers []*rawPeer
	raw := func() *rawPeer { p := dialRaw(t, ts); peers = append(peers, p); return p }
	// Handshake failures.
	p := raw()
	p.send(&wire.Hello{Magic: [4]byte([]byte(wire.Magic)), Version: 9})
	p.expectClose()
	p = raw()
	p.sendBytes(frameHeader(wire.FrameTypeHello, wire.MaxFrameSize+1))
	p.expectClose()
	// A peer that never says hello.
	idle := raw()
	idle.sendBytes(frameHeader(0x21, 100)) // opens the stream, then stalls
	// A truncated push, a hash mismatch, a push that is never sent, a
	// stream for no transfer and a pull never acknowledged, all on one
	// session that then vanishes.
	p = raw()
	p.hello()
	data := []byte("some bytes")
	sum := xfer.FileHash(data)
	for i, body := range [][]byte{data[:3], data} {
		id := uint64(i + 1)
		p.send(&wire.Put{ID: id, Path: "bad" + string(rune('0'+id)), Size: uint64(len(data)), MTime: time.Now()})
		expectMsg[*wire.Accept](p)
		ws := p.openRange(id, 0, uint64(len(data)))
		ws.Write(body)
		ws.Close()
		p.send(&wire.Seal{ID: id, Hash: make([]byte, wire.HashSize)})
		expectMsg[*wire.Done](p)
	}
	p.send(&wire.Put{ID: 3, Path: "never", Size: 5 << 20, MTime: time.Now()})
	expectMsg[*wire.Accept](p)
	ws := p.openRange(99, 0, 32)
	ws.Write(sum[:])
	p.send(&wire.Get{ID: 4, Path: "c0/tree/c/d"})
	expectMsg[*wire.FileInfo](p)
	half := p.openRange(3, 0, 5<<20)
	half.Write(make([]byte, 1<<20))
	waitReceived(t, ts, "never", 1<<20)
	p.conn.CloseWithError(quic.ApplicationErrorCode(CodeInterrupted), "vanish")
	// A protocol violation.
	p = raw()
	p.hello()
	p.send(&wire.List{ID: 0, Path: "."})
	p.expectClose()

	testutil.Eventually(t, rawTimeout, "the server table to empty", func() bool { return ts.srv.Transfers().Len() == 0 })
	for _, c := range clients {
		c.Close()
	}
	for _, p := range peers {
		p.close()
	}
	ts.stop()
	testutil.CheckGoroutines(t, base)
}

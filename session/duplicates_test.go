package session

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/internal/udpproxy"
	"github.com/qxfer/qxfer/quicx"
)

// TestSameSourceTwice: a source listed twice, under one name or two, is
// transferred once and succeeds, both ways, as rsync does (issue 13,
// class 7). Two sources bound for one destination are not: the later one
// fails at once, naming both, and the earlier one arrives.
func TestSameSourceTwice(t *testing.T) {
	ts, c := startWithClient(t)
	ctx := testCtx(t)
	local := t.TempDir()
	f := filepath.Join(local, "f")
	data := testutil.WriteRandom(t, f, 70000)

	t.Run("push f f", func(t *testing.T) {
		rep, err := c.Push(ctx, []string{f, f, filepath.Join(local, ".", "f")}, "d", Options{})
		checkReport(t, "push", rep, err, 1, Done)
		testutil.SameFile(t, filepath.Join(ts.root, "d", "f"), data)
	})
	t.Run("push a file and a hard link to it", func(t *testing.T) {
		dir := t.TempDir()
		a, b := filepath.Join(dir, "a", "g"), filepath.Join(dir, "b", "g")
		want := testutil.WriteRandom(t, a, 100)
		os.MkdirAll(filepath.Dir(b), 0o755)
		if err := os.Link(a, b); err != nil {
			t.Skipf("no hard links here: %v", err)
		}
		rep, err := c.Push(ctx, []string{a, b}, "h", Options{})
		checkReport(t, "push", rep, err, 1, Done)
		testutil.SameFile(t, filepath.Join(ts.root, "h", "g"), want)
	})
	t.Run("pull x x", func(t *testing.T) {
		dst := t.TempDir()
		rep, err := c.Pull(ctx, []string{"d/f", "d/f", "/d/f", "d//f"}, dst, Options{})
		checkReport(t, "pull", rep, err, 1, Done)
		testutil.SameFile(t, filepath.Join(dst, "f"), data)
	})
	t.Run("push two sources to one destination", func(t *testing.T) {
		dir := t.TempDir()
		a, b := filepath.Join(dir, "a", "k"), filepath.Join(dir, "b", "k")
		want := testutil.WriteRandom(t, a, 100)
		testutil.WriteRandom(t, b, 200)
		rep, err := c.Push(ctx, []string{a, b}, "two", Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Files) != 2 || rep.Files[0].State != Done || rep.Files[1].State != Failed {
			t.Fatalf("got %+v, want the first done and the second failed", rep.Files)
		}
		e := fileError(t, rep.Files[1])
		if e.Code != CodeBusy || !strings.Contains(e.Msg, b) || !strings.Contains(e.Msg, a) {
			t.Errorf("got %v, want %v naming %s and %s", e, CodeBusy, a, b)
		}
		testutil.SameFile(t, filepath.Join(ts.root, "two", "k"), want)
	})
}

// TestTwoGetsOfOneFile: two pulls of one remote file to two local names,
// in one session and at the same time (the shell's "get x a; get x b"),
// both succeed: only a destination is exclusive, on the side that writes
// it (issue 13, class 7). Two pulls to one local file are not.
func TestTwoGetsOfOneFile(t *testing.T) {
	ts := startServer(t, ServerConfig{}, nil)
	p := throttledProxy(t, ts, udpproxy.Config{RateBits: 16e6})
	c := dialAs(t, ts, newIdentity(t), p.Addr().String(), quicx.Config{})
	data := testutil.WriteRandom(t, filepath.Join(ts.root, "x"), 2<<20)
	ctx := longCtx(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "sub", "a")
	os.Mkdir(filepath.Dir(b), 0o755)

	first := runAsync(func() (*Report, error) { return c.PullFile(ctx, "x", a, Options{}) })
	testutil.Eventually(t, hangAfter, "the first get to move bytes", func() bool {
		i, ok := liveInfo(c.table, func(i TransferInfo) bool { return i.Local == "a" })
		return ok && i.Bytes > 0
	})
	// Same remote file, another local name (same base name, another
	// directory): it runs beside the first.
	second := runAsync(func() (*Report, error) { return c.PullFile(ctx, "x", b, Options{}) })
	// Same local file: refused, the first goes on.
	rep, err := c.PullFile(ctx, "x", a, Options{})
	checkReport(t, "third get", rep, err, 1, Failed)
	if f := rep.Files[0]; !errors.Is(f.Err, ErrBusy) {
		t.Errorf("third get: got %v, want busy", f.Err)
	}
	for what, res := range map[string]<-chan pushResult{"first": first, "second": second} {
		rep := waitPush(t, res, 2*hangAfter)
		checkReport(t, what+" get", rep, nil, 1, Done)
	}
	testutil.SameFile(t, a, data)
	testutil.SameFile(t, b, data)
}

// TestTwoReceiversOneDestination: two receivers that share no transfer
// table (two client processes, two servers on one tree) and write one
// destination: the receiver's lock on its .part makes the second fail at
// once with busy, touching nothing, while the first completes and leaves
// no record behind (issue 13, class 8).
func TestTwoReceiversOneDestination(t *testing.T) {
	const size = 8 << 20
	check := func(t *testing.T, f TransferInfo) {
		t.Helper()
		if f.State != Failed || f.Bytes != 0 {
			t.Fatalf("second receiver: got state %v after %d bytes (err %v), want failed at once", f.State, f.Bytes, f.Err)
		}
		e := fileError(t, f)
		if e.Code != CodeBusy || !strings.Contains(e.Msg, "is receiving this file") {
			t.Errorf("second receiver: got %v, want busy: another process is receiving this file", e)
		}
	}

	t.Run("pull", func(t *testing.T) {
		ts := startServer(t, ServerConfig{}, nil)
		data := testutil.WriteRandom(t, filepath.Join(ts.root, "big"), size)
		p := throttledProxy(t, ts, udpproxy.Config{RateBits: 32e6})
		slow := dialAs(t, ts, newIdentity(t), p.Addr().String(), quicx.Config{})
		other := ts.dial(t, "") // its own table, as another process has
		dst := t.TempDir()
		ctx := longCtx(t)
		first := runAsync(func() (*Report, error) { return slow.Pull(ctx, []string{"big"}, dst, Options{}) })
		testutil.Eventually(t, hangAfter, "the first pull to write bytes", func() bool { return received(slow.table, "big") > 0 })
		rep, err := other.Pull(ctx, []string{"big"}, dst, Options{})
		checkReport(t, "second pull", rep, err, 1, Failed)
		check(t, rep.Files[0])
		checkReport(t, "first pull", waitPush(t, first, 2*hangAfter), nil, 1, Done)
		testutil.SameFile(t, filepath.Join(dst, "big"), data)
		testutil.SameDirNames(t, "destination", dst, "big")
	})
	t.Run("push to two servers on one tree", func(t *testing.T) {
		a := startServer(t, ServerConfig{}, nil)
		b := startServer(t, ServerConfig{Root: a.root}, nil)
		src := filepath.Join(t.TempDir(), "big")
		data := testutil.WriteRandom(t, src, size)
		p := throttledProxy(t, a, udpproxy.Config{RateBits: 32e6})
		slow := dialAs(t, a, newIdentity(t), p.Addr().String(), quicx.Config{})
		ctx := longCtx(t)
		first := pushAsync(ctx, slow, []string{src}, ".", Options{})
		testutil.Eventually(t, hangAfter, "the first push to write bytes", func() bool { return received(a.srv.Transfers(), "big") > 0 })
		rep, err := b.dial(t, "").Push(ctx, []string{src}, ".", Options{})
		checkReport(t, "second push", rep, err, 1, Failed)
		check(t, rep.Files[0])
		checkReport(t, "first push", waitPush(t, first, 2*hangAfter), nil, 1, Done)
		testutil.SameFile(t, filepath.Join(a.root, "big"), data)
		testutil.SameDirNames(t, "server root", a.root, "big")
		if _, err := os.Stat(filepath.Join(a.root, ".big.qxfer.resume")); err == nil {
			t.Errorf("a resume record is left beside the complete file")
		}
	})
}

package session

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/internal/udpproxy"
	"github.com/qxfer/qxfer/quicx"
)

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

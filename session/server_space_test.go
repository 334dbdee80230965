package session

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/qxfer/qxfer/certs"
	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/quicx"
)

// pushCounted pushes local files to remote dir on c and returns the report
// and the bytes c sent on the wire meanwhile (QUIC payload, all frames).
func pushCounted(t testing.TB, c *clientConn, files []string, dir string, opts Options) (*Report, uint64) {
	t.Helper()
	before := c.Stats().BytesSent
	rep, err := c.Push(longCtx(t), files, dir, opts)
	if err != nil {
		t.Fatalf("push %v: %v", files, err)
	}
	return rep, c.Stats().BytesSent - before
}

// refusedBeforeBytes checks that the only file of rep failed with code
// and that fewer than 16 KiB went on the wire for a file of size bytes:
// a Put and a few acknowledgements, not the file.
func refusedBeforeBytes(t testing.TB, what string, rep *Report, sent uint64, code ErrorCode, size int) {
	t.Helper()
	if len(rep.Files) != 1 || rep.Files[0].State != Failed {
		t.Fatalf("%s: got %+v, want one failed file", what, rep.Files)
	}
	if e := fileError(t, rep.Files[0]); e.Code != code {
		t.Errorf("%s: got %v, want %v", what, e, code)
	}
	if sent >= 16<<10 || int(sent) >= size/4 {
		t.Errorf("%s: %d bytes sent on the wire for a refused file of %d, want under 16 KiB", what, sent, size)
	}
}

// TestQuotaBeforeBytes: a push past the client's quota is refused with
// quota_exceeded before a byte of it is sent; the next push that fits
// succeeds; replacing a file counts the file it replaces; a file pushed
// by another client into the same root counts too.
func TestQuotaBeforeBytes(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "alice"), 0o755); err != nil {
		t.Fatal(err)
	}
	// 100 KiB already there count against the quota.
	testutil.WriteRandom(t, filepath.Join(root, "alice", "old.bin"), 100<<10)
	alice, admin := newIdentity(t), newIdentity(t)
	ts := accessServer(t, ServerConfig{Root: root}, map[*certs.Identity]certs.ClientAccess{
		alice: {Root: "alice", Quota: 1 << 20}, admin: {},
	})
	src := t.TempDir()
	a := filepath.Join(src, "a.bin")
	b := filepath.Join(src, "b.bin")
	small := filepath.Join(src, "small.bin")
	testutil.WriteRandom(t, a, 500<<10)
	testutil.WriteRandom(t, b, 500<<10)
	smallData := testutil.WriteRandom(t, small, 300<<10)
	c := dialWith(t, ts.addr, clientConfig(t, ts, alice, quicx.Config{}, nil))

	rep, _ := pushCounted(t, c, []string{a}, ".", Options{})
	checkReport(t, "push a (600 KiB of 1 MiB)", rep, nil, 1, Done)
	rep, sent := pushCounted(t, c, []string{b}, ".", Options{})
	refusedBeforeBytes(t, "push b (1100 KiB of 1 MiB)", rep, sent, CodeQuotaExceeded, 500<<10)
	testutil.NoFile(t, filepath.Join(root, "alice", "b.bin"))
	testutil.NoPartials(t, root)
	rep, _ = pushCounted(t, c, []string{small}, ".", Options{})
	checkReport(t, "push small (900 KiB of 1 MiB)", rep, nil, 1, Done)
	testutil.SameFile(t, filepath.Join(root, "alice", "small.bin"), smallData)

	// Replacing a.bin by a new version of the same size fits.
	newA := testutil.WriteRandom(t, a, 500<<10)
	rep, _ = pushCounted(t, c, []string{a}, ".", Options{Force: true})
	checkReport(t, "push -f a", rep, nil, 1, Done)
	testutil.SameFile(t, filepath.Join(root, "alice", "a.bin"), newA)

	// Another client with the whole root fills alice's directory; the
	// accounting sees it.
	ca := dialWith(t, ts.addr, clientConfig(t, ts, admin, quicx.Config{}, nil))
	tiny := filepath.Join(src, "tiny.bin")
	testutil.WriteRandom(t, tiny, 80<<10)
	rep, _ = pushCounted(t, ca, []string{tiny}, "alice", Options{})
	checkReport(t, "admin push into alice/", rep, nil, 1, Done)
	rep, sent = pushCounted(t, c, []string{tiny}, "sub", Options{})
	refusedBeforeBytes(t, "push tiny (980 KiB + 80 KiB of 1 MiB)", rep, sent, CodeQuotaExceeded, 80<<10)

	// Two files whose sum is over the quota, pushed at once by a second
	// client of a fresh root: one is refused, the other arrives whole.
	if err := os.Mkdir(filepath.Join(root, "bob"), 0o755); err != nil {
		t.Fatal(err)
	}
	bob := newIdentity(t)
	ts2 := accessServer(t, ServerConfig{Root: root}, map[*certs.Identity]certs.ClientAccess{bob: {Root: "bob", Quota: 800 << 10}})
	cb := dialWith(t, ts2.addr, clientConfig(t, ts2, bob, quicx.Config{}, nil))
	rep, err := cb.Push(longCtx(t), []string{a, b}, ".", Options{Parallel: 2})
	if err != nil {
		t.Fatal(err)
	}
	checkOneRefused(t, rep, CodeQuotaExceeded, filepath.Join(root, "bob"), map[string][]byte{"a.bin": newA, "b.bin": nil})
}

// checkOneRefused checks a push of two files that could not both fit:
// one refused with code, the other stored whole in dir (data by name; a
// nil entry is read from the source), no partial left.
func checkOneRefused(t testing.TB, rep *Report, code ErrorCode, dir string, data map[string][]byte) {
	t.Helper()
	var done, refused int
	for _, f := range rep.Files {
		name := filepath.Base(f.Path)
		switch f.State {
		case Done:
			done++
			if want := data[name]; want != nil {
				testutil.SameFile(t, filepath.Join(dir, name), want)
			} else if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Size() == 0 {
				t.Errorf("%s: got %v, want the file", name, err)
			}
		case Failed:
			refused++
			if e := fileError(t, f); e.Code != code {
				t.Errorf("%s: got %v, want %v", name, e, code)
			}
			testutil.NoFile(t, filepath.Join(dir, name))
		}
	}
	if done != 1 || refused != 1 {
		t.Errorf("got %d done and %d refused (%+v), want one of each", done, refused, rep.Files)
	}
	testutil.NoPartials(t, dir)
}

// TestNoSpaceBeforeBytes: on a small real file system, a push that
// cannot fit its free space (less MinFree) is refused with no_space
// before a byte of it is sent, the next push that fits succeeds, and two
// pushes whose sum overflows give one refusal and no corruption.
func TestNoSpaceBeforeBytes(t *testing.T) {
	root := testutil.MountTmpfs(t, "size=8m")
	ts := startServer(t, ServerConfig{Root: root, MinFree: 1 << 20}, nil)
	src := t.TempDir()
	big := filepath.Join(src, "big.bin")
	big2 := filepath.Join(src, "big2.bin")
	one := filepath.Join(src, "one.bin")
	bigData := testutil.WriteRandom(t, big, 5<<20)
	testutil.WriteRandom(t, big2, 5<<20)
	oneData := testutil.WriteRandom(t, one, 1<<20)
	c := ts.dial(t, "")

	rep, _ := pushCounted(t, c, []string{big}, ".", Options{})
	checkReport(t, "push 5 MiB of 8", rep, nil, 1, Done)
	rep, sent := pushCounted(t, c, []string{big2}, ".", Options{})
	refusedBeforeBytes(t, "push 5 more MiB", rep, sent, CodeNoSpace, 5<<20)
	testutil.NoFile(t, filepath.Join(root, "big2.bin"))
	// 3 MiB free, 1 kept spare: 2.5 MiB does not fit, 1 MiB does.
	half := filepath.Join(src, "half.bin")
	testutil.WriteRandom(t, half, 5<<19)
	rep, sent = pushCounted(t, c, []string{half}, ".", Options{})
	refusedBeforeBytes(t, "push 2.5 MiB into 3 with 1 spare", rep, sent, CodeNoSpace, 5<<19)
	rep, _ = pushCounted(t, c, []string{one}, ".", Options{})
	checkReport(t, "push 1 MiB", rep, nil, 1, Done)
	testutil.SameFile(t, filepath.Join(root, "one.bin"), oneData)
	testutil.SameFile(t, filepath.Join(root, "big.bin"), bigData)
	testutil.NoPartials(t, root)

	// Concurrent pushes whose sum overflows.
	root2 := testutil.MountTmpfs(t, "size=8m")
	ts2 := startServer(t, ServerConfig{Root: root2}, nil)
	c2 := ts2.dial(t, "")
	rep, err := c2.Push(longCtx(t), []string{big, big2}, ".", Options{Parallel: 2})
	if err != nil {
		t.Fatal(err)
	}
	checkOneRefused(t, rep, CodeNoSpace, root2, map[string][]byte{"big.bin": bigData, "big2.bin": nil})
}

// TestPullNoSpaceBeforeBytes: a client pulling a file its local disk
// cannot hold refuses it before asking for it, so no byte of it comes;
// a file that fits then arrives.
func TestPullNoSpaceBeforeBytes(t *testing.T) {
	local := testutil.MountTmpfs(t, "size=4m")
	ts := startServer(t, ServerConfig{}, nil)
	testutil.WriteRandom(t, filepath.Join(ts.root, "big.bin"), 6<<20)
	one := testutil.WriteRandom(t, filepath.Join(ts.root, "one.bin"), 1<<20)
	c := ts.dial(t, "")
	before := c.Stats().BytesReceived
	rep, err := c.Pull(longCtx(t), []string{"big.bin"}, local, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := c.Stats().BytesReceived - before
	refusedBeforeBytes(t, "pull 6 MiB into 4", rep, 0, CodeNoSpace, 6<<20)
	if got >= 16<<10 {
		t.Errorf("pull refused: %d bytes received, want under 16 KiB", got)
	}
	testutil.NoFile(t, filepath.Join(local, "big.bin"))
	testutil.NoPartials(t, local)
	rep, err = c.Pull(longCtx(t), []string{"one.bin"}, local, Options{})
	checkReport(t, "pull 1 MiB", rep, err, 1, Done)
	testutil.SameFile(t, filepath.Join(local, "one.bin"), one)
}

// TestQuotaTreeChanged: a removal the push accounting does not see is
// taken into account once treeChanged has marked the usage stale, at the
// next push with no push in flight.
func TestQuotaTreeChanged(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "alice"), 0o755); err != nil {
		t.Fatal(err)
	}
	alice := newIdentity(t)
	ts := accessServer(t, ServerConfig{Root: root}, map[*certs.Identity]certs.ClientAccess{alice: {Root: "alice", Quota: 1 << 20}})
	src := t.TempDir()
	a, b := filepath.Join(src, "a.bin"), filepath.Join(src, "b.bin")
	testutil.WriteRandom(t, a, 700<<10)
	testutil.WriteRandom(t, b, 700<<10)
	c := dialWith(t, ts.addr, clientConfig(t, ts, alice, quicx.Config{}, nil))
	rep, _ := pushCounted(t, c, []string{a}, ".", Options{})
	checkReport(t, "push a", rep, nil, 1, Done)
	if err := os.Remove(filepath.Join(root, "alice", "a.bin")); err != nil {
		t.Fatal(err)
	}
	rep, sent := pushCounted(t, c, []string{b}, ".", Options{})
	refusedBeforeBytes(t, "push b while a is still counted", rep, sent, CodeQuotaExceeded, 700<<10)
	ts.srv.quotas.treeChanged()
	rep, _ = pushCounted(t, c, []string{b}, ".", Options{})
	checkReport(t, "push b after treeChanged", rep, nil, 1, Done)
}

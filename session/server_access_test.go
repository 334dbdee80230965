package session

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/qxfer/qxfer/certs"
	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/quicx"
	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// accessServer starts a server whose clients' access is given by clients
// (by identity); identities not in it are refused.
func accessServer(t testing.TB, cfg ServerConfig, clients map[*certs.Identity]certs.ClientAccess) *testServer {
	t.Helper()
	byFP := map[certs.Fingerprint]certs.ClientAccess{}
	for id, acc := range clients {
		byFP[id.Fingerprint] = acc
	}
	cfg.Access = func(fp certs.Fingerprint) (certs.ClientAccess, error) {
		acc, ok := byFP[fp]
		if !ok {
			return acc, certs.ErrNotListed
		}
		return acc, nil
	}
	return startServer(t, cfg, nil)
}

// answer is a reply to a request, as a client sees it, for comparing
// replies.
func answer(m wire.Message) string {
	switch m := m.(type) {
	case *wire.Reject:
		return fmt.Sprintf("reject %v %q", m.Code, m.Msg)
	case *wire.ListResult:
		var names []string
		for _, e := range m.Entries {
			names = append(names, e.Name)
		}
		return fmt.Sprintf("list %q", names)
	}
	return m.Type().String()
}

// requestFrames are the request kinds a raw peer sends in the access
// tests, by name.
var requestFrames = []struct {
	name  string
	frame func(id uint64, p string) wire.Message
}{
	{"put", func(id uint64, p string) wire.Message {
		return &wire.Put{ID: id, Path: p, Size: 10, Mode: 0o644, MTime: fileTime(0)}
	}},
	{"get", func(id uint64, p string) wire.Message { return &wire.Get{ID: id, Path: p} }},
	{"list", func(id uint64, p string) wire.Message { return &wire.List{ID: id, Path: p} }},
	{"stat", func(id uint64, p string) wire.Message { return &wire.Stat{ID: id, Path: p} }},
	{"mkdir", func(id uint64, p string) wire.Message { return &wire.Mkdir{ID: id, Path: p, Mode: 0o755} }},
}

// requestFrame returns the frame maker named name in requestFrames.
func requestFrame(t testing.TB, name string) func(id uint64, p string) wire.Message {
	t.Helper()
	for _, rf := range requestFrames {
		if rf.name == name {
			return rf.frame
		}
	}
	t.Fatalf("no request frame %q", name)
	return nil
}

// ask sends one request on a fresh raw connection as id and returns the
// answer.
func ask(t testing.TB, ts *testServer, id *certs.Identity, frame wire.Message) string {
	t.Helper()
	p := dialRawAs(t, ts, id)
	p.hello()
	p.send(frame)
	m, err := p.recv()
	if err != nil {
		t.Fatalf("%s: no answer: %v", frame.Type(), err)
	}
	p.close()
	return answer(m)
}

// twoRoots lays out a server root for alice and bob: bob's files, and in
// alice's root symlinks pointing at them, relatively and absolutely.
func twoRoots(t testing.TB) (root string, alice, bob *certs.Identity, clients map[*certs.Identity]certs.ClientAccess) {
	root = t.TempDir()
	for _, d := range []string{"alice", "bob/sub"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"bob/secret.txt", "bob/sub/deep.txt", "alice/mine.txt", "top.txt"} {
		if err := os.WriteFile(filepath.Join(root, f), []byte("content of "+f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../bob", filepath.Join(root, "alice", "tobob")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "bob", "secret.txt"), filepath.Join(root, "alice", "abs")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..", filepath.Join(root, "alice", "up")); err != nil {
		t.Fatal(err)
	}
	alice, bob = newIdentity(t), newIdentity(t)
	clients = map[*certs.Identity]certs.ClientAccess{
		alice: {Root: "alice", Label: "alice"},
		bob:   {Root: "bob", Label: "bob"},
	}
	return root, alice, bob, clients
}

// TestClientRootsIsolated: a client with root= sees only its directory.
// Every path trick of TestPathAttackRaw, the symlinks in its root, and the
// names of the other client's files get the same answer whether the other
// client's file exists or not, and nothing of it is read or written.
func TestClientRootsIsolated(t *testing.T) {
	root, alice, _, clients := twoRoots(t)
	ts := accessServer(t, ServerConfig{Root: root}, clients)

	// Her world: her files and links, nothing above.
	c := dialWith(t, ts.addr, clientConfig(t, ts, alice, quicx.Config{}, nil))
	ents, err := c.List(testCtx(t), ".")
	if err != nil {
		t.Fatalf("list .: %v", err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name)
	}
	slices.Sort(names)
	if got, want := strings.Join(names, " "), "abs mine.txt tobob up"; got != want {
		t.Errorf("alice's listing of .: got %q, want %q", got, want)
	}
	for _, e := range ents {
		if e.Kind == KindSymlink && e.Size != 0 {
			t.Errorf("%s: a symlink out of her root listed with size %d (its target's length), want 0", e.Name, e.Size)
		}
	}
	for _, p := range []string{"tobob", "up", "/", "..", "up/bob"} {
		if ents, err := c.List(testCtx(t), p); err == nil {
			t.Errorf("list %q: got %d entries, want a refusal", p, len(ents))
		}
	}

	long := strings.Repeat("n", 300)
	forms := []string{
		"../bob/%s", "bob/../../bob/%s", "/bob/%s", "/%s", "bob/%s", "%s",
		"tobob/%s", "up/bob/%s", "up/%s", "tobob/../%s", "./../bob/%s",
		`..\bob\%s`, "\uff0e\uff0e/bob/%s", "b\u006f\u0308b/../%s", "%s\x00", "../bob/%s/" + long,
	}
	for _, form := range forms {
		for _, rf := range requestFrames {
			t.Run(rf.name+" "+form, func(t *testing.T) {
				there := ask(t, ts, alice, rf.frame(1, fmt.Sprintf(form, "secret.txt")))
				absent := ask(t, ts, alice, rf.frame(1, fmt.Sprintf(form, "absent.txt")))
				if strings.ReplaceAll(there, "secret.txt", "X") != strings.ReplaceAll(absent, "absent.txt", "X") {
					t.Errorf("answers tell bob's file from a missing one:\n  secret.txt: %s\n  absent.txt: %s", there, absent)
				}
				if strings.Contains(there, "alice") || strings.Contains(there, root) || strings.Contains(there, "content of") {
					t.Errorf("answer names what is outside her world: %s", there)
				}
				if rf.name == "get" && there == "file_info" {
					t.Errorf("get %q: got FileInfo, want a refusal", form)
				}
			})
		}
	}
	// The symlink to bob's file by absolute path.
	for _, rf := range requestFrames[1:4] {
		if got := ask(t, ts, alice, rf.frame(1, "abs")); !strings.HasPrefix(got, "reject") && rf.name != "list" {
			t.Errorf("%s abs: got %s, want a refusal", rf.name, got)
		}
	}
	// Bob's tree and the top of the server root are untouched.
	for _, f := range []string{"bob/secret.txt", "bob/sub/deep.txt", "top.txt"} {
		if b, err := os.ReadFile(filepath.Join(root, f)); err != nil || string(b) != "content of "+f {
			t.Errorf("%s: got %q, %v, want it unchanged", f, b, err)
		}
	}
	testutil.SameDirNames(t, "bob's root", filepath.Join(root, "bob"), "secret.txt", "sub")
	testutil.SameDirNames(t, "server root", root, "alice", "bob", "top.txt")
}

// TestClientRootsTransfers: clients with different roots pushing the same
// name do not meet: no busy (which would tell the name is in use), no
// resume of the other's partial, no cancel of the other's transfer.
func TestClientRootsTransfers(t *testing.T) {
	root, alice, bob, clients := twoRoots(t)
	ts := accessServer(t, ServerConfig{Root: root}, clients)
	data := []byte("0123456789abcdef0123456789abcdef")
	sum := xfer.FileHash(data)
	put := &wire.Put{ID: 1, Path: "f", Size: uint64(len(data)), Mode: 0o644, MTime: fileTime(1)}

	// Alice's push of f is under way: offered, first half sent, then her
	// connection dies, leaving a resumable partial.
	pa := dialRawAs(t, ts, alice)
	pa.hello()
	pa.send(put)
	expectMsg[*wire.Accept](pa)
	ws := pa.openRange(1, 0, uint64(len(data)))
	ws.Write(data[:16])
	waitReceived(t, ts, "f", 16)

	// Bob's f, meanwhile: no busy, no resume of her bytes; and his
	// Cancel of request 1 is his own business.
	pb := dialRawAs(t, ts, bob)
	pb.hello()
	pb.send(&wire.Cancel{ID: 1, Code: CodeCancelled})
	pb.send(put)
	if acc := expectMsg[*wire.Accept](pb); len(acc.Have) != 0 {
		t.Errorf("bob's Accept: got Have %v, want none (alice's partial is not his)", acc.Have)
	}
	pb.sendFile(1, data, sum)
	if d := expectMsg[*wire.Done](pb); d.Code != CodeOK {
		t.Fatalf("bob's push: got Done %v %q, want ok", d.Code, d.Msg)
	}
	// Alice's transfer was not cancelled by bob: she finishes it.
	ws.Write(data[16:])
	ws.Close()
	pa.send(&wire.Seal{ID: 1, Hash: sum[:]})
	if d := expectMsg[*wire.Done](pa); d.Code != CodeOK {
		t.Fatalf("alice's push: got Done %v %q, want ok", d.Code, d.Msg)
	}
	testutil.SameFile(t, filepath.Join(root, "alice", "f"), data)
	testutil.SameFile(t, filepath.Join(root, "bob", "f"), data)
	testutil.NoPartials(t, root)
	checkServesAs(t, ts, alice)
}

// checkServesAs pushes and pulls a file as id.
func checkServesAs(t testing.TB, ts *testServer, id *certs.Identity) {
	t.Helper()
	c := dialWith(t, ts.addr, clientConfig(t, ts, id, quicx.Config{}, nil))
	defer c.Close()
	src := filepath.Join(t.TempDir(), "alive.bin")
	data := testutil.WriteRandom(t, src, 50<<10)
	rep, err := c.Push(testCtx(t), []string{src}, "alive", Options{Force: true})
	checkOK(t, "push", rep, err)
	dst := t.TempDir()
	rep, err = c.Pull(testCtx(t), []string{"alive/alive.bin"}, dst, Options{})
	checkOK(t, "pull", rep, err)
	testutil.SameFile(t, filepath.Join(dst, "alive.bin"), data)
}

// TestReadOnlyWriteOnlyClients: a read-only client cannot push or mkdir;
// a write-only client can, but cannot list, stat or pull, and gets the
// same refusal for a name that exists as for one that does not.
func TestReadOnlyWriteOnlyClients(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "there.txt"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	ro, wo := newIdentity(t), newIdentity(t)
	ts := accessServer(t, ServerConfig{Root: root}, map[*certs.Identity]certs.ClientAccess{
		ro: {ReadOnly: true}, wo: {WriteOnly: true},
	})

	for _, p := range []string{"new.txt", "dir/new.txt", "there.txt"} {
		if got, want := ask(t, ts, ro, requestFrames[0].frame(1, p)), "reject read_only"; !strings.HasPrefix(got, want) {
			t.Errorf("read-only put %s: got %s, want %s", p, got, want)
		}
		if got, want := ask(t, ts, ro, requestFrames[4].frame(1, p+".d")), "reject read_only"; !strings.HasPrefix(got, want) {
			t.Errorf("read-only mkdir %s: got %s, want %s", p, got, want)
		}
	}
	if got := ask(t, ts, ro, &wire.Get{ID: 1, Path: "there.txt"}); got != "file_info" {
		t.Errorf("read-only get: got %s, want file_info", got)
	}
	if got := ask(t, ts, ro, &wire.List{ID: 1, Path: "."}); got != `list ["dir" "there.txt"]` {
		t.Errorf("read-only list: got %s, want the root's names", got)
	}

	// Write-only: the same refusal whatever the name.
	for _, rf := range requestFrames[1:4] {
		for _, pair := range [][2]string{{"there.txt", "absent.txt"}, {"dir", "nodir"}, {".", "nodir/.."}} {
			there := ask(t, ts, wo, rf.frame(1, pair[0]))
			absent := ask(t, ts, wo, rf.frame(1, pair[1]))
			if !strings.HasPrefix(there, "reject permission_denied") || there != absent {
				t.Errorf("write-only %s %s / %s: got %s / %s, want the same permission_denied", rf.name, pair[0], pair[1], there, absent)
			}
		}
	}
	c := dialWith(t, ts.addr, clientConfig(t, ts, wo, quicx.Config{}, nil))
	src := t.TempDir()
	data := testutil.WriteRandom(t, filepath.Join(src, "drop.bin"), 70<<10)
	rep, err := c.Push(testCtx(t), []string{filepath.Join(src, "drop.bin")}, "inbox/deep", Options{})
	checkOK(t, "write-only push", rep, err)
	testutil.SameFile(t, filepath.Join(root, "inbox", "deep", "drop.bin"), data)
	dst := t.TempDir()
	rep, err = c.Pull(testCtx(t), []string{"inbox/deep/drop.bin"}, dst, Options{})
	checkReport(t, "write-only pull", rep, err, 1, Failed)
	if e := fileError(t, rep.Files[0]); e.Code != CodePermissionDenied {
		t.Errorf("write-only pull: got %v, want permission_denied", e)
	}
	if ents := testutil.DirNames(t, dst); len(ents) != 0 {
		t.Errorf("write-only pull wrote %q, want nothing", ents)
	}
}

// TestClientMaxConnections: a client with max-connections=1 gets a second
// connection closed with limit_exceeded, and a new one once the first has
// gone; other clients are not counted against it. A client the Access
// function refuses is closed with permission_denied.
func TestClientMaxConnections(t *testing.T) {
	one, other := newIdentity(t), newIdentity(t)
	ts := accessServer(t, ServerConfig{}, map[*certs.Identity]certs.ClientAccess{
		one: {MaxConnections: 1, Label: "one"}, other: {},
	})
	dial := func(id *certs.Identity) (*clientConn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return dialConn(ctx, ts.addr, clientConfig(t, ts, id, quicx.Config{}, nil))
	}
	c1, err := dial(one)
	if err != nil {
		t.Fatalf("first connection: %v", err)
	}
	_, err = dial(one)
	var ae *quic.ApplicationError
	if !errors.As(err, &ae) || ErrorCode(ae.ErrorCode) != CodeLimitExceeded {
		t.Errorf("second connection: got %v, want closed with limit_exceeded", err)
	}
	c3, err := dial(other)
	if err != nil {
		t.Fatalf("another client: %v", err)
	}
	c3.Close()
	c1.Close()
	testutil.Eventually(t, rawTimeout, "the first connection to end on the server", func() bool { return ts.srv.Sessions() == 0 })
	c4, err := dial(one)
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	c4.Close()
	_, err = dial(newIdentity(t))
	if !errors.As(err, &ae) || ErrorCode(ae.ErrorCode) != CodePermissionDenied {
		t.Errorf("unlisted client: got %v, want closed with permission_denied", err)
	}
}

// TestAllowDecisions checks the one access decision for every request
// kind and client kind, including remove and rename (mayChange), which
// have no request of their own yet.
func TestAllowDecisions(t *testing.T) {
	srv, err := NewServer(ServerConfig{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	roSrv, err := NewServer(ServerConfig{Root: t.TempDir(), ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer roSrv.Close()
	tests := []struct {
		name string
		srv  *Server
		acc  certs.ClientAccess
		want map[op]ErrorCode // by op; CodeOK for allowed
	}{
		{"plain", srv, certs.ClientAccess{}, map[op]ErrorCode{opRead: CodeOK, opList: CodeOK, opWrite: CodeOK, opMkdir: CodeOK, opChange: CodeOK}},
		{"read-only", srv, certs.ClientAccess{ReadOnly: true}, map[op]ErrorCode{opRead: CodeOK, opList: CodeOK, opWrite: CodeReadOnly, opMkdir: CodeReadOnly, opChange: CodeReadOnly}},
		{"write-only", srv, certs.ClientAccess{WriteOnly: true}, map[op]ErrorCode{opRead: CodePermissionDenied, opList: CodePermissionDenied, opWrite: CodeOK, opMkdir: CodeOK, opChange: CodePermissionDenied}},
		{"server read-only", roSrv, certs.ClientAccess{}, map[op]ErrorCode{opRead: CodeOK, opList: CodeOK, opWrite: CodeReadOnly, opMkdir: CodeReadOnly, opChange: CodeReadOnly}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ss := &serverSession{srv: tt.srv, acc: tt.acc, root: tt.srv.root}
			for o, want := range tt.want {
				var p string
				var err error
				if o == opChange {
					p, err = ss.mayChange("a/./b")
				} else {
					p, err = ss.allow(o, "a/./b")
				}
				if got := codeOfErr(err); err != nil && got != want || err == nil && want != CodeOK {
					t.Errorf("%v: got %v, want %v", o, err, want)
				}
				if err == nil && p != "a/b" {
					t.Errorf("%v: got path %q, want a/b", o, p)
				}
			}
			// A bad path is still refused where the kind is allowed.
			if _, err := ss.mayChange("../x"); tt.want[opChange] == CodeOK && codeOfErr(err) != CodeInvalidPath {
				t.Errorf("mayChange ../x: got %v, want invalid_path", err)
			}
		})
	}
}

package session

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qxfer/qxfer/certs"
	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/quicx"
	"github.com/qxfer/qxfer/session/internal/wire"
)

// TestChecksumCompare: with Checksum, a file of the same content is up to
// date whatever its mtime, and one of another content with the same size
// and mtime (which the quick check takes as up to date) differs: refused
// as exists without Force, replaced with it; both ways, dry run included,
// on each store.
func TestChecksumCompare(t *testing.T) {
	forEachStore(t, ServerConfig{}, func(t *testing.T, e *storeEnv) {
		for _, dir := range []Direction{Push, Pull} {
			t.Run(dir.String(), func(t *testing.T) { testChecksumCompare(t, e, dir) })
		}
	})
}

func testChecksumCompare(t *testing.T, e *storeEnv, dir Direction) {
	c := e.ts.dial(t, "")
	ctx := testCtx(t)
	local := t.TempDir()
	tree := "tree-" + dir.String() // both directions share the server
	then := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	// put writes a file of the tree on the client's side (remote false)
	// or in the store.
	put := func(remote bool, name, data string, mtime time.Time) {
		if remote {
			e.put(t, tree+"/"+name, []byte(data), 0o644, mtime)
			return
		}
		p := filepath.Join(local, tree, name)
		writeTestFile(t, p, []byte(data))
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	// dstFile checks what the destination's file holds, and returns its
	// mtime.
	dstFile := func(name, want string) time.Time {
		t.Helper()
		if dir == Pull {
			p := filepath.Join(local, tree, name)
			testutil.SameFile(t, p, []byte(want))
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			return fi.ModTime()
		}
		e.sameFile(t, tree+"/"+name, []byte(want))
		m, _ := e.meta(t, tree+"/"+name)
		return m.mtime
	}
	toRemote := dir == Push
	put(!toRemote, "same", "identical", then)
	put(toRemote, "same", "identical", then.Add(time.Hour))
	put(!toRemote, "differs", "content-A", then)
	put(toRemote, "differs", "content-B", then)
	run := func(opts Options) *Report {
		t.Helper()
		opts.Recursive, opts.Checksum = true, true
		rep, err := transferOf(dir, local, tree, opts)(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	byName := func(rep *Report) map[string]TransferInfo {
		m := map[string]TransferInfo{}
		for _, f := range rep.Files {
			m[filepath.Base(f.Path)] = f
		}
		return m
	}

	rep := run(Options{DryRun: true, Force: true})
	acts := map[string]Action{}
	for _, a := range rep.Actions {
		acts[filepath.Base(a.Path)] = a
	}
	if a := acts["same"]; a.Kind != ActionUpToDate || a.Reason != "same checksum" {
		t.Errorf("dry run same: got %v (%s), want uptodate (same checksum)", a.Kind, a.Reason)
	}
	if a := acts["differs"]; a.Kind != ActionUpdate || a.Reason != "checksum differs" {
		t.Errorf("dry run differs: got %v (%s), want update (checksum differs)", a.Kind, a.Reason)
	}

	files := byName(run(Options{}))
	if f := files["same"]; f.State != Skipped || f.Bytes != 0 {
		t.Errorf("same: got %v with %d bytes, want skipped", f.State, f.Bytes)
	}
	if f := files["differs"]; f.State != Failed || codeOfErr(f.Err) != CodeExists {
		t.Errorf("differs without force: got %v %v, want exists", f.State, f.Err)
	}
	dstFile("differs", "content-B")

	files = byName(run(Options{Force: true}))
	if f := files["differs"]; f.State != Done || f.Bytes != int64(len("content-A")) {
		t.Errorf("differs with force: got %v with %d bytes (%v), want done", f.State, f.Bytes, f.Err)
	}
	dstFile("differs", "content-A")
	// Without -c the quick check alone sees "same" as differing
	// (other mtime): it was not touched.
	if mt := dstFile("same", "identical"); !mt.Equal(then.Add(time.Hour)) {
		t.Errorf("same: mtime %v, want it untouched (%v)", mt, then.Add(time.Hour))
	}
}

// TestChecksumRequest: the server's answer to a Checksum, and its
// refusals, on each store: a write-only client (the same answer whether
// the file exists or not), a directory, a path leading out of the root.
func TestChecksumRequest(t *testing.T) {
	data := []byte("checksum me")
	rw, wo := newIdentity(t), newIdentity(t)
	byFP := map[certs.Fingerprint]certs.ClientAccess{rw.Fingerprint: {}, wo.Fingerprint: {WriteOnly: true}}
	cfg := ServerConfig{Access: func(fp certs.Fingerprint) (certs.ClientAccess, error) {
		acc, ok := byFP[fp]
		if !ok {
			return acc, certs.ErrNotListed
		}
		return acc, nil
	}}
	forEachStore(t, cfg, func(t *testing.T, e *storeEnv) {
		ts := e.ts
		e.put(t, "f", data, 0o644, time.Unix(1e9, 0))
		e.mkdir(t, "d")
		c := dialAs(t, ts, rw, ts.addr, quicx.Config{})
		n, sum, err := c.Checksum(testCtx(t), "f")
		want := sha256.Sum256(data)
		if err != nil || n != uint64(len(data)) || string(sum) != string(want[:]) {
			t.Errorf("checksum f: got %d %x %v, want %d %x", n, sum, err, len(data), want)
		}
		for _, tt := range []struct {
			path string
			code ErrorCode
		}{{"d", CodeNotRegular}, {"absent", CodeNotFound}, {"../f", CodeInvalidPath}} {
			if _, _, err := c.Checksum(testCtx(t), tt.path); codeOfErr(err) != tt.code {
				t.Errorf("checksum %s: got %v, want %v", tt.path, err, tt.code)
			}
		}
		there := ask(t, ts, wo, &wire.Checksum{ID: 1, Path: "f"})
		absent := ask(t, ts, wo, &wire.Checksum{ID: 1, Path: "absent"})
		if !strings.HasPrefix(there, "reject permission_denied") || there != absent {
			t.Errorf("write-only checksum: got %s / %s, want the same permission_denied", there, absent)
		}
	})
}

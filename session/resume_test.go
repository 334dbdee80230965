package session

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qxfer/qxfer/certs"
	"github.com/qxfer/qxfer/internal/udpproxy"
	"github.com/qxfer/qxfer/quicx"
)

// resumeRate is the link rate of the interruption tests: 160 Mbit/s moves
// 48 MiB in about 2.5 s, time enough to stop a transfer in the middle of
// its body by polling its progress.
const resumeRate = 160e6

// hangAfter bounds waits that only guard against a hang: generous, since a
// loaded machine (or -race) can run these transfers several times slower
// than the link allows.
const hangAfter = time.Minute

// longCtx is the context of one transfer of a test.
func longCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*hangAfter)
	t.Cleanup(cancel)
	return ctx
}

func newIdentity(t testing.TB) *certs.Identity {
	t.Helper()
	id, err := certs.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// clientConfig is the configuration of a test client with identity id:
// the same identity on every connection is what lets the server tell a
// reconnecting client from another one.
func clientConfig(t testing.TB, ts *testServer, id *certs.Identity, qc quicx.Config, table *Table) ClientConfig {
	return ClientConfig{Identity: id, Fingerprint: ts.id.Fingerprint, Quic: qc, Table: table, WatchRoute: -1, Logger: testLogger(t)}
}

// dialAs connects to addr (the server or a proxy) as identity id.
func dialAs(t testing.TB, ts *testServer, id *certs.Identity, addr string, qc quicx.Config) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, addr, clientConfig(t, ts, id, qc, nil))
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readRecord returns the resume record of p under dir, nil if there is none.
func readRecord(t testing.TB, dir, p string) *xfer.Record {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(xfer.RecordName(p))))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var r xfer.Record
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("resume record of %s: %v", p, err)
	}
	return &r
}

// writeRecord leaves a resume record for p under dir.
func writeRecord(t testing.TB, dir, p string, r *xfer.Record) {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(xfer.RecordName(p))), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// recordOf is the record a receiver would write after receiving prefix of
// a source described by m, in order: its one range and the hash of it.
func recordOf(prefix []byte, m xfer.FileMeta) *xfer.Record {
	sum := sha256.Sum256(prefix)
	n := uint64(len(prefix))
	return &xfer.Record{Version: xfer.RecordVersion, Size: m.Size, MTime: m.MTime.UnixNano(), Ranges: []wire.Range{{Offset: 0, Length: n}}, Hashed: n, SHA256: sum[:]}
}

// durableOffset is the contiguous prefix a record says is durable.
func durableOffset(r *xfer.Record) uint64 {
	held := r.Held()
	return held.Prefix()
}

// partSize is the size of the .part of p under dir, 0 if there is none.
func partSize(dir, p string) int64 {
	fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(xfer.PartName(p))))
	if err != nil {
		return 0
	}
	return fi.Size()
}

// received returns the bytes the receiver of name has written so far in
// its live transfer in tb (0 when there is none): the receiver's .part is
// preallocated at full size, so its length says nothing.
func received(tb *Table, name string) int64 {
	for _, i := range tb.Snapshot() {
		if i.Path == name || filepath.Base(i.Local) == name || path.Base(i.Path) == path.Base(name) {
			return i.Bytes
		}
	}
	return 0
}

// receiverTable is the table of the receiving side: the server's for a
// push, the client's for a pull.
func receiverTable(dir Direction, ts *testServer, client *Table) *Table {
	if dir == Push {
		return ts.srv.Transfers()
	}
	return client
}

// noPartials fails if a .part, a resume record or a record's temporary
// file is left under dir.
func noPartials(t testing.TB, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".qxfer.") {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})
}

// checkDurable checks the record a stopped receiver left for a source of
// meta m: it covers at least min bytes, no more than the .part holds.
func checkDurable(t testing.TB, dir, p string, m xfer.FileMeta, min uint64) *xfer.Record {
	t.Helper()
	rec := readRecord(t, dir, p)
	if rec == nil {
		t.Fatalf("%s: got no resume record after the interruption, want one", p)
	}
	if !rec.Matches(m) {
		t.Fatalf("%s: got record for size %d mtime %d, want %d and %d", p, rec.Size, rec.MTime, m.Size, m.MTime.UnixNano())
	}
	if ps, off := uint64(partSize(dir, p)), durableOffset(rec); off < min || off > ps {
		t.Fatalf("%s: got durable offset %d, want between %d and the .part's %d bytes", p, off, min, ps)
	}
	return rec
}

func metaOfFile(t testing.TB, p string) xfer.FileMeta {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return xfer.MetaOf(fi)
}

// sameMeta checks that the received file p has the source's mtime.
func sameMeta(t testing.TB, p string, m xfer.FileMeta) {
	t.Helper()
	if got := metaOfFile(t, p); !got.MTime.Equal(m.MTime) || got.Size != m.Size {
		t.Errorf("%s: got size %d mtime %v, want %d and %v", p, got.Size, got.MTime, m.Size, m.MTime)
	}
}

// transferFunc runs one push or pull on c.
type transferFunc func(ctx context.Context, c *Client) (*Report, error)

// transferOf moves file name from the sender's directory to the
// receiver's: a push from local to the server root, a pull the other way.
func transferOf(dir Direction, local, name string, opts Options) transferFunc {
	if dir == Push {
		return func(ctx context.Context, c *Client) (*Report, error) {
			return c.Push(ctx, []string{filepath.Join(local, name)}, ".", opts)
		}
	}
	return func(ctx context.Context, c *Client) (*Report, error) {
		return c.Pull(ctx, []string{name}, local, opts)
	}
}

// onlyFile runs f and returns the single file of its report.
func onlyFile(t testing.TB, what string, f transferFunc, c *Client) TransferInfo {
	t.Helper()
	rep, err := f(longCtx(t), c)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if len(rep.Files) != 1 {
		t.Fatalf("%s: got %d files in the report, want 1", what, len(rep.Files))
	}
	return rep.Files[0]
}

// killDuring runs f on c and closes c abruptly, as a killed process
// would, once progress reports at least at bytes. It returns the file's
// report entry, which must not be done.
func killDuring(t testing.TB, c *Client, f transferFunc, progress func() int64, at int64) TransferInfo {
	t.Helper()
	type result struct {
		rep *Report
		err error
	}
	res := make(chan result, 1)
	go func() {
		rep, err := f(context.Background(), c)
		res <- result{rep, err}
	}()
	pollCond(t, hangAfter, fmt.Sprintf("%d bytes at the receiver", at), func() bool { return progress() >= at })
	c.CloseWithCode(CodeInterrupted, "killed")
	var r result
	select {
	case r = <-res:
	case <-time.After(hangAfter):
		t.Fatal("transfer did not return after its connection was closed")
	}
	if r.err != nil {
		t.Fatalf("interrupted transfer: %v", r.err)
	}
	fi := r.rep.Files[0]
	if fi.State == Done || fi.State == Skipped {
		t.Fatalf("interrupted transfer: got state %s, want it cut off", fi.State)
	}
	return fi
}

// receiverDirs returns where the source of a transfer lives and where the
// receiver writes.
func receiverDirs(dir Direction, ts *testServer, local string) (src, dst string) {
	if dir == Push {
		return local, ts.root
	}
	return ts.root, local
}

// TestResumeAfterKill interrupts a transfer by killing the client right
// after the receiver's first periodic checkpoint, then runs it again from
// a new client with the same identity: the second run starts at the
// receiver's durable offset.
func TestResumeAfterKill(t *testing.T) {
	const (
		size = 64 << 20
		name = "big.bin"
	)
	for _, dir := range []Direction{Push, Pull} {
		t.Run(dir.String(), func(t *testing.T) {
			ts := startServer(t, ServerConfig{}, nil)
			p := throttledProxy(t, ts, udpproxy.Config{RateBits: resumeRate})
			id := newIdentity(t)
			local := t.TempDir()
			srcDir, dstDir := receiverDirs(dir, ts, local)
			data := writeRandom(t, filepath.Join(srcDir, name), size)
			m := metaOfFile(t, filepath.Join(srcDir, name))
			run := transferOf(dir, local, name, Options{})

			first := dialAs(t, ts, id, p.Addr().String(), quicx.Config{})
			checkpointed := func() int64 {
				if r := readRecord(t, dstDir, name); r != nil {
					return int64(durableOffset(r))
				}
				return 0
			}
			killDuring(t, first, run, checkpointed, xfer.CheckpointEvery)
			// The server stops writing once it has seen the connection
			// go, and records what it has.
			pollCond(t, hangAfter, "the server to end the push", func() bool { return ts.srv.Transfers().Len() == 0 })
			rec := checkDurable(t, dstDir, name, m, xfer.CheckpointEvery)
			remaining := int64(size - durableOffset(rec))

			second := dialAs(t, ts, id, ts.addr, quicx.Config{})
			f := onlyFile(t, "second run", run, second)
			if f.State != Done {
				t.Fatalf("second run: got state %s (err %v), want done", f.State, f.Err)
			}
			if f.Bytes < remaining || f.Bytes > remaining+size/100 {
				t.Errorf("second run: got %d bytes moved, want the %d after the durable offset %d (+1%%)", f.Bytes, remaining, durableOffset(rec))
			}
			t.Logf("durable offset %d; second run moved %d of %d bytes (%.1f%%)", durableOffset(rec), f.Bytes, size, 100*float64(f.Bytes)/size)
			sameFile(t, filepath.Join(dstDir, name), data)
			sameMeta(t, filepath.Join(dstDir, name), m)
			noPartials(t, dstDir)
		})
	}
}

// TestStalePartial leaves a .part and a resume record at the receiver and
// checks that only a record of this very source, whose prefix matches the
// sender's file, is continued; anything else starts over at 0 and never
// produces a spliced file.
func TestStalePartial(t *testing.T) {
	const (
		size = 4 << 20
		off  = 3 << 19
	)
	tests := []struct {
		name string
		// leave returns the .part and the record the receiver holds
		// for a source with content src and meta m.
		leave    func(src []byte, m xfer.FileMeta) ([]byte, *xfer.Record)
		noResume bool
		resumed  bool // the transfer continues at off
		// corrupt: the .part was changed behind its record's back; the
		// receiver notices before appending and the transfer starts
		// over (more than size bytes may move).
		corrupt bool
	}{
		{
			name:    "partial of this source resumes",
			leave:   func(src []byte, m xfer.FileMeta) ([]byte, *xfer.Record) { return src[:off], recordOf(src[:off], m) },
			resumed: true,
		},
		{
			name: "record of another size",
			leave: func(src []byte, m xfer.FileMeta) ([]byte, *xfer.Record) {
				m.Size++
				return src[:off], recordOf(src[:off], m)
			},
		},
		{
			name: "record of another mtime",
			leave: func(src []byte, m xfer.FileMeta) ([]byte, *xfer.Record) {
				m.MTime = m.MTime.Add(-time.Second)
				return src[:off], recordOf(src[:off], m)
			},
		},
		{
			name: "same size and mtime, other content",
			leave: func(src []byte, m xfer.FileMeta) ([]byte, *xfer.Record) {
				other := make([]byte, off)
				rand.Read(other)
				return other, recordOf(other, m)
			},
		},
		{
			name: "record beyond the end of the part",
			leave: func(src []byte, m xfer.FileMeta) ([]byte, *xfer.Record) {
				return src[:off/2], recordOf(src[:off], m)
			},
		},
		{
			name: "part changed after its checkpoint",
			leave: func(src []byte, m xfer.FileMeta) ([]byte, *xfer.Record) {
				part := bytes.Clone(src[:off])
				part[off/2] ^= 0xff
				return part, recordOf(src[:off], m)
			},
			corrupt: true,
		},
		{
			name:     "no resume",
			leave:    func(src []byte, m xfer.FileMeta) ([]byte, *xfer.Record) { return src[:off], recordOf(src[:off], m) },
			noResume: true,
		},
	}
	ts := startServer(t, ServerConfig{}, nil)
	c := dialAs(t, ts, newIdentity(t), ts.addr, quicx.Config{})
	for _, dir := range []Direction{Push, Pull} {
		for i, tt := range tests {
			t.Run(dir.String()+"/"+tt.name, func(t *testing.T) {
				local := t.TempDir()
				srcDir, dstDir := receiverDirs(dir, ts, local)
				name := fmt.Sprintf("%s-%d.bin", dir, i)
				src := filepath.Join(srcDir, name)
				data := writeRandom(t, src, size)
				if err := os.Chtimes(src, time.Now(), fileTime(i)); err != nil {
					t.Fatal(err)
				}
				m := metaOfFile(t, src)
				part, rec := tt.leave(data, m)
				if err := os.WriteFile(filepath.Join(dstDir, xfer.PartName(name)), part, 0o600); err != nil {
					t.Fatal(err)
				}
				writeRecord(t, dstDir, name, rec)

				f := onlyFile(t, "transfer", transferOf(dir, local, name, Options{NoResume: tt.noResume}), c)
				if f.State != Done {
					t.Fatalf("got state %s (err %v), want done", f.State, f.Err)
				}
				want := int64(size)
				if tt.resumed {
					want = size - off
				}
				switch {
				case tt.corrupt && f.Bytes < want:
					t.Errorf("got %d bytes moved, want at least %d (a restart)", f.Bytes, want)
				case !tt.corrupt && f.Bytes != want:
					t.Errorf("got %d bytes moved, want %d", f.Bytes, want)
				}
				sameFile(t, filepath.Join(dstDir, name), data)
				sameMeta(t, filepath.Join(dstDir, name), m)
				noPartials(t, dstDir)
			})
		}
	}
}

// TestIdenticalDestinationSkipped transfers a file twice: the second
// time nothing moves and the destination is not rewritten.
func TestIdenticalDestinationSkipped(t *testing.T) {
	const size = 2 << 20
	ts := startServer(t, ServerConfig{}, nil)
	c := dialAs(t, ts, newIdentity(t), ts.addr, quicx.Config{})
	for _, dir := range []Direction{Push, Pull} {
		t.Run(dir.String(), func(t *testing.T) {
			local := t.TempDir()
			srcDir, dstDir := receiverDirs(dir, ts, local)
			name := dir.String() + ".bin"
			data := writeRandom(t, filepath.Join(srcDir, name), size)
			run := transferOf(dir, local, name, Options{})
			if f := onlyFile(t, "first run", run, c); f.State != Done || f.Bytes != size {
				t.Fatalf("first run: got state %s, %d bytes (err %v), want done, %d", f.State, f.Bytes, f.Err, size)
			}
			before, err := os.Stat(filepath.Join(dstDir, name))
			if err != nil {
				t.Fatal(err)
			}
			f := onlyFile(t, "second run", run, c)
			if f.State != Skipped || f.Bytes != 0 || f.Err != nil {
				t.Errorf("second run: got state %s, %d bytes (err %v), want skipped, 0", f.State, f.Bytes, f.Err)
			}
			after, err := os.Stat(filepath.Join(dstDir, name))
			if err != nil {
				t.Fatal(err)
			}
			if !os.SameFile(before, after) {
				t.Errorf("second run: the destination was replaced, want it left alone")
			}
			sameFile(t, filepath.Join(dstDir, name), data)
			noPartials(t, dstDir)
		})
	}
}

// TestSourceChangedBetweenRuns interrupts a transfer, rewrites the source
// with other content of the same size and a new mtime, and runs it again:
// the partial file belongs to the old source, so the receiver starts over.
func TestSourceChangedBetweenRuns(t *testing.T) {
	const (
		size = 32 << 20
		name = "changing.bin"
	)
	for _, dir := range []Direction{Push, Pull} {
		t.Run(dir.String(), func(t *testing.T) {
			ts := startServer(t, ServerConfig{}, nil)
			p := throttledProxy(t, ts, udpproxy.Config{RateBits: resumeRate})
			id := newIdentity(t)
			local := t.TempDir()
			srcDir, dstDir := receiverDirs(dir, ts, local)
			src := filepath.Join(srcDir, name)
			writeRandom(t, src, size)
			old := metaOfFile(t, src)
			run := transferOf(dir, local, name, Options{})

			first := dialAs(t, ts, id, p.Addr().String(), quicx.Config{})
			killDuring(t, first, run, func() int64 { return received(receiverTable(dir, ts, first.Transfers()), name) }, 12<<20)
			pollCond(t, hangAfter, "the server to end the push", func() bool { return ts.srv.Transfers().Len() == 0 })
			checkDurable(t, dstDir, name, old, 12<<20)

			data := writeRandom(t, src, size)
			if err := os.Chtimes(src, time.Now(), old.MTime.Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			f := onlyFile(t, "second run", run, dialAs(t, ts, id, ts.addr, quicx.Config{}))
			if f.State != Done || f.Bytes != size {
				t.Fatalf("second run: got state %s, %d bytes (err %v), want done, %d from the start", f.State, f.Bytes, f.Err, size)
			}
			sameFile(t, filepath.Join(dstDir, name), data)
			sameMeta(t, filepath.Join(dstDir, name), metaOfFile(t, src))
			noPartials(t, dstDir)
		})
	}
}

// TestTakeover pushes a file from client A and, while A is writing, pushes
// the same path from a client with another identity (refused as busy) and
// from client B with A's identity, as a client reconnecting before the
// server noticed its old connection die: B takes over, resumes from A's
// durable offset and completes; A's push ends cancelled.
func TestTakeover(t *testing.T) {
	const (
		size = 64 << 20
		name = "big.bin"
		at   = 16 << 20
	)
	ts := startServer(t, ServerConfig{}, nil)
	p := throttledProxy(t, ts, udpproxy.Config{RateBits: resumeRate})
	id := newIdentity(t)
	local := t.TempDir()
	data := writeRandom(t, filepath.Join(local, name), size)
	run := transferOf(Push, local, name, Options{})
	ctx := longCtx(t)

	a := dialAs(t, ts, id, p.Addr().String(), quicx.Config{})
	resA := pushAsync(ctx, a, []string{filepath.Join(local, name)}, ".", Options{})
	pollCond(t, hangAfter, "A's bytes on the server", func() bool { return received(ts.srv.Transfers(), name) >= at })

	f := onlyFile(t, "other identity", run, dialAs(t, ts, newIdentity(t), ts.addr, quicx.Config{}))
	if f.State != Failed || !errors.Is(f.Err, ErrBusy) {
		t.Errorf("other identity: got state %s (err %v), want failed with busy", f.State, f.Err)
	}
	if e := fileError(t, f); !e.Remote {
		t.Errorf("other identity: got a local error %v, want the server's refusal", e)
	}
	if i, ok := liveInfo(ts.srv.Transfers(), func(i TransferInfo) bool { return i.Path == name }); !ok || i.State != Running {
		t.Fatalf("A's push: got live=%v state %s after the refusal, want it still running", ok, i.State)
	}

	fb := onlyFile(t, "B", run, dialAs(t, ts, id, ts.addr, quicx.Config{}))
	if fb.State != Done {
		t.Fatalf("B: got state %s (err %v), want done", fb.State, fb.Err)
	}
	if fb.Bytes <= 0 || fb.Bytes > size-at {
		t.Errorf("B: got %d bytes sent, want at most %d (resumed after A's %d)", fb.Bytes, size-at, at)
	}
	t.Logf("B sent %d of %d bytes", fb.Bytes, size)
	fa := fileByPath(t, waitPush(t, resA, hangAfter), name)
	if fa.State != Cancelled || !errors.Is(fa.Err, ErrCancelled) {
		t.Errorf("A: got state %s (err %v), want cancelled", fa.State, fa.Err)
	}
	sameFile(t, filepath.Join(ts.root, name), data)
	noPartials(t, ts.root)
}

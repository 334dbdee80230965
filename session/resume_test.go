package session

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/qxfer/qxfer/certs"
	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/internal/udpproxy"
	"github.com/qxfer/qxfer/quicx"
	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// resumeRate is the link rate of the interruption tests: 160 Mbit/s moves
// 48 MiB in about 2.5 s, time enough to stop a transfer in the middle of
// its body by polling its progress.
const resumeRate = 160e6

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

// otherContent leaves a .part of n random bytes, another version of the
// source under the same size and mtime, with its record made by record.
func otherContent(n int, record func([]byte, xfer.FileMeta) *xfer.Record) func([]byte, xfer.FileMeta) ([]byte, *xfer.Record) {
	return func(_ []byte, m xfer.FileMeta) ([]byte, *xfer.Record) {
		other := make([]byte, n)
		rand.Read(other)
		return other, record(other, m)
	}
}

// recordV2Of is the record a protocol v2 receiver wrote after receiving
// prefix of a source described by m: version 2, its prefix hash a SHA-256.
func recordV2Of(prefix []byte, m xfer.FileMeta) *xfer.Record {
	r := recordOf(prefix, m)
	sum := sha256.Sum256(prefix)
	r.Version, r.Sum, r.SHA256 = 2, nil, sum[:]
	return r
}

// recordOf is the record a receiver would write after receiving prefix of
// a source described by m, in order: its one range and the hash of it.
func recordOf(prefix []byte, m xfer.FileMeta) *xfer.Record {
	sum := xfer.FileHash(prefix)
	n := uint64(len(prefix))
	return &xfer.Record{Version: xfer.RecordVersion, Size: m.Size, MTime: m.MTime.UnixNano(), Ranges: []wire.Range{{Offset: 0, Length: n}}, Hashed: n, Sum: sum}
}

// durableBytes is how many bytes a record says are durable: those of its
// ranges, which a resume does not send again, holes and all (a pool
// writes ranges out of order).
func durableBytes(r *xfer.Record) uint64 {
	held := r.Held()
	return held.Total()
}

// partSize is the size of the .part of p under dir, 0 if there is none.
func partSize(dir, p string) int64 {
	fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(xfer.PartName(p))))
	if err != nil {
		return 0
	}
	return fi.Size()
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
	if ps, n := uint64(partSize(dir, p)), durableBytes(rec); n < min || n > ps {
		t.Fatalf("%s: got %d durable bytes, want between %d and the .part's %d bytes", p, n, min, ps)
	}
	return rec
}

// killDuring runs f on c and closes c abruptly, as a killed process
// would, once progress reports at least at bytes. It returns the file's
// report entry, which must not be done.
func killDuring(t testing.TB, c *clientConn, f transferFunc, progress func() int64, at int64) TransferInfo {
	t.Helper()
	res := runAsync(func() (*Report, error) { return f(context.Background(), c) })
	var r pushResult
	ended := false
	testutil.Eventually(t, hangAfter, fmt.Sprintf("%d bytes at the receiver", at), func() bool {
		select {
		case r = <-res:
			ended = true
			return true
		default:
			return progress() >= at
		}
	})
	if ended {
		var files []TransferInfo
		if r.rep != nil {
			files = r.rep.Files
		}
		t.Fatalf("the transfer ended (err %v, files %+v) before %d bytes were at the receiver (%d), want it still running", r.err, files, at, progress())
	}
	c.CloseWithCode(CodeInterrupted, "killed")
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

// resumeRig is the setting of a transfer that is interrupted and run
// again: a server behind a link of resumeRate, the client identity that
// comes back after the interruption, the directories of transferDirs,
// and a source file of random bytes to move.
type resumeRig struct {
	ts             *testServer
	link           string // the address of the proxy in front of ts
	id             *certs.Identity
	local          string
	srcDir, dstDir string
	src            string // the source file, in srcDir
	data           []byte // its content
	meta           xfer.FileMeta
	run            transferFunc // moves it in the rig's direction
}

// newResumeRig sets up the transfer in dir of file name, of size random
// bytes.
func newResumeRig(t testing.TB, dir Direction, name string, size int) resumeRig {
	t.Helper()
	ts := startServer(t, ServerConfig{}, nil)
	p := throttledProxy(t, ts, udpproxy.Config{RateBits: resumeRate})
	r := resumeRig{ts: ts, link: p.Addr().String(), id: newIdentity(t)}
	r.local, r.srcDir, r.dstDir = transferDirs(t, dir, ts)
	r.src = filepath.Join(r.srcDir, name)
	r.data = testutil.WriteRandom(t, r.src, size)
	r.meta = metaOfFile(t, r.src)
	r.run = transferOf(dir, r.local, name, Options{})
	return r
}

// interrupt runs the transfer from a client of r.id dialled through the
// link, kills that client once progress (of the client) says at, waits
// for the server to end its side, and returns the record the receiver
// kept: it covers at least at bytes.
func (r resumeRig) interrupt(t testing.TB, progress func(*clientConn) int64, at int64) *xfer.Record {
	t.Helper()
	first := dialAs(t, r.ts, r.id, r.link, quicx.Config{})
	killDuring(t, first, r.run, func() int64 { return progress(first) }, at)
	// The server stops writing once it has seen the connection go, and
	// records what it has.
	testutil.Eventually(t, hangAfter, "the server to end the transfer", func() bool { return r.ts.srv.Transfers().Len() == 0 })
	return checkDurable(t, r.dstDir, filepath.Base(r.src), r.meta, uint64(at))
}

// again runs the transfer again, from a new client of r.id dialled
// straight to the server, and returns its one file.
func (r resumeRig) again(t testing.TB) TransferInfo {
	t.Helper()
	return onlyFile(t, "second run", r.run, dialAs(t, r.ts, r.id, r.ts.addr, quicx.Config{}))
}

// TestResumeAfterKill kills the client in the middle of a transfer and
// runs the transfer again from a new client with the same identity.
// Killed right after the receiver's first periodic checkpoint, the second
// run sends only what the receiver's record does not hold. With the source rewritten
// between the runs (same size, new content and mtime), the partial file
// belongs to the old source and the receiver starts over.
func TestResumeAfterKill(t *testing.T) {
	const name = "big.bin"
	tests := []struct {
		name string
		size int
		// change: rewrite the source between the runs. The client is
		// killed once the receiver has received killAt bytes if so,
		// once it has checkpointed them if not.
		change bool
		killAt int64
	}{
		{name: "resumed", size: 64 << 20, killAt: xfer.CheckpointEvery},
		{name: "source changed between runs", size: 32 << 20, killAt: 12 << 20, change: true},
	}
	for _, tt := range tests {
		for _, dir := range []Direction{Push, Pull} {
			if dir == Push && !tt.change {
				continue // on every store: TestPushResumeAfterKill
			}
			t.Run(tt.name+"/"+dir.String(), func(t *testing.T) {
				r := newResumeRig(t, dir, name, tt.size)
				progress := func(c *clientConn) int64 { return received(receiverTable(dir, r.ts, c.Transfers()), name) }
				if !tt.change {
					progress = func(*clientConn) int64 {
						if rec := readRecord(t, r.dstDir, name); rec != nil {
							return int64(durableBytes(rec))
						}
						return 0
					}
				}
				rec := r.interrupt(t, progress, tt.killAt)
				want, remaining, slack := r.data, int64(tt.size)-int64(durableBytes(rec)), int64(tt.size/100)
				if tt.change {
					want, remaining, slack = testutil.WriteRandom(t, r.src, tt.size), int64(tt.size), 0
					if err := os.Chtimes(r.src, time.Now(), r.meta.MTime.Add(time.Second)); err != nil {
						t.Fatal(err)
					}
				}

				f := r.again(t)
				if f.State != Done {
					t.Fatalf("second run: got state %s (err %v), want done", f.State, f.Err)
				}
				if f.Bytes < remaining || f.Bytes > remaining+slack {
					t.Errorf("second run: got %d bytes moved, want %d to %d (%d bytes durable, source changed: %v)", f.Bytes, remaining, remaining+slack, durableBytes(rec), tt.change)
				}
				t.Logf("%d bytes durable; second run moved %d of %d bytes (%.1f%%)", durableBytes(rec), f.Bytes, tt.size, 100*float64(f.Bytes)/float64(tt.size))
				testutil.SameFile(t, filepath.Join(r.dstDir, name), want)
				sameMeta(t, filepath.Join(r.dstDir, name), metaOfFile(t, r.src))
				testutil.NoPartials(t, r.dstDir)
			})
		}
	}
}

// TestStalePartial leaves a .part and a resume record at the receiver and
// checks that only a record of this very source, whose prefix matches the
// sender's file, is continued (a version 2 record of protocol v2 too,
// its prefix hashed again); anything else starts over at 0 and never
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
			name: "version 2 record of this source resumes",
			leave: func(src []byte, m xfer.FileMeta) ([]byte, *xfer.Record) {
				return src[:off], recordV2Of(src[:off], m)
			},
			resumed: true,
		},
		{
			name:  "version 2 record, other content",
			leave: otherContent(off, recordV2Of),
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
			name:  "same size and mtime, other content",
			leave: otherContent(off, recordOf),
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
				local, srcDir, dstDir := transferDirs(t, dir, ts)
				name := fmt.Sprintf("%s-%d.bin", dir, i)
				src := filepath.Join(srcDir, name)
				data := testutil.WriteRandom(t, src, size)
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
				testutil.SameFile(t, filepath.Join(dstDir, name), data)
				sameMeta(t, filepath.Join(dstDir, name), m)
				testutil.NoPartials(t, dstDir)
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
			local, srcDir, dstDir := transferDirs(t, dir, ts)
			name := dir.String() + ".bin"
			data := testutil.WriteRandom(t, filepath.Join(srcDir, name), size)
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
			testutil.SameFile(t, filepath.Join(dstDir, name), data)
			testutil.NoPartials(t, dstDir)
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
	data := testutil.WriteRandom(t, filepath.Join(local, name), size)
	run := transferOf(Push, local, name, Options{})
	ctx := longCtx(t)

	a := dialAs(t, ts, id, p.Addr().String(), quicx.Config{})
	resA := pushAsync(ctx, a, []string{filepath.Join(local, name)}, ".", Options{})
	testutil.Eventually(t, hangAfter, "A's bytes on the server", func() bool { return received(ts.srv.Transfers(), name) >= at })

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
	testutil.SameFile(t, filepath.Join(ts.root, name), data)
	testutil.NoPartials(t, ts.root)
}

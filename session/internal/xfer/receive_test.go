package xfer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/session/internal/wire"
)

// recvFixture is a root and a random source file to receive into it.
type recvFixture struct {
	root *os.Root
	dir  string
	data []byte
	meta FileMeta
}

func newRecvFixture(t *testing.T, size int) *recvFixture {
	t.Helper()
	dir, root := testutil.TempRoot(t)
	data := testutil.WriteRandom(t, filepath.Join(t.TempDir(), "src"), size)
	return &recvFixture{root: root, dir: dir, data: data, meta: FileMeta{Size: uint64(size), Mode: 0o640, MTime: time.Unix(1700000000, 0)}}
}

// open opens a Receiver of the fixture's file as dest.
func (f *recvFixture) open(t *testing.T, dest string) (*Receiver, Offer) {
	t.Helper()
	rc, offer, err := OpenReceiver(ReceiverConfig{Root: f.root, Path: dest, Meta: f.meta})
	if err != nil {
		t.Fatalf("OpenReceiver(%s): %v", dest, err)
	}
	return rc, offer
}

// feed writes the range [off, off+n) of the source as one range stream.
func (f *recvFixture) feed(t *testing.T, rc *Receiver, off, n uint64) *Error {
	t.Helper()
	return rc.receiveRange(context.Background(), bytes.NewReader(f.data[off:off+n]), wire.RangeHeader{Offset: off, Length: n})
}

// seal is the SHA-256 of the source, as a Seal carries it.
func (f *recvFixture) seal() []byte {
	s := FileHash(f.data)
	return s[:]
}

// sealFor is the hash a sender of the source seals rc with: the
// source's SHA-256, or, when rc was seeded by a delta, the BLAKE3-256 of
// the source's bytes outside the offer (literalSum).
func (f *recvFixture) sealFor(t *testing.T, rc *Receiver) []byte {
	t.Helper()
	if !rc.delta {
		return f.seal()
	}
	sum, err := literalSum(bytes.NewReader(f.data), rc.deltaHave, f.meta.Size, nil, make([]byte, ChunkSize))
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// finish seals rc as the source's sender would (sealFor), waits for it,
// and fails the test unless out.bin then holds the source; what names
// the wait.
func (f *recvFixture) finish(t *testing.T, rc *Receiver, what string) {
	t.Helper()
	rc.SetSeal(f.sealFor(t, rc))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rc.Wait(ctx); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	testutil.SameFile(t, filepath.Join(f.dir, "out.bin"), f.data)
}

// writeV1Record writes a version 1 record (qxfer 1's sequential .part,
// with its hash state) for the first n bytes of the fixture, and a .part
// of exactly those n bytes.
func (f *recvFixture) writeV1Record(t *testing.T, dest string, n int) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, PartName(dest)), f.data[:n], 0o600); err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	h.Write(f.data[:n])
	state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]any{"v": 1, "size": f.meta.Size, "mtime": f.meta.MTime.UnixNano(), "offset": n, "state": state})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.dir, RecordName(dest)), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestReceiverAssembles writes ranges out of order, with overlaps
// and duplicates: the result is the source, mode and mtime are set, and
// neither .part nor record is left. Every range is acked once written.
func TestReceiverAssembles(t *testing.T) {
	f := newRecvFixture(t, 5<<20+7)
	var acked []wire.Range
	rc, offer, err := OpenReceiver(ReceiverConfig{Root: f.root, Path: "out.bin", Meta: f.meta,
		Ack: func(r wire.Range) { acked = append(acked, r) }})
	if err != nil || len(offer.Have) != 0 || offer.PrefixHash != nil {
		t.Fatalf("OpenReceiver: got %v, offer %v; want no error, an empty offer", err, offer)
	}
	fi, err := f.root.Stat(PartName("out.bin"))
	if err != nil || uint64(fi.Size()) != f.meta.Size {
		t.Fatalf(".part not preallocated: got %v %v, want %d bytes", fi, err, f.meta.Size)
	}
	size := f.meta.Size
	order := [][2]uint64{{3 << 20, size - 3<<20}, {0, 1 << 20}, {2 << 20, 1 << 20}, {1 << 20, 1 << 20}, {0, 1 << 20}}
	var want []wire.Range
	for _, r := range order {
		if e := f.feed(t, rc, r[0], r[1]); e != nil {
			t.Fatalf("range %v: %v", r, e)
		}
		want = append(want, wire.Range{Offset: r[0], Length: r[1]})
	}
	if !reflect.DeepEqual(acked, want) {
		t.Errorf("acked %v, want %v", acked, want)
	}
	f.finish(t, rc, "Wait")
	st, _ := os.Stat(filepath.Join(f.dir, "out.bin"))
	if st.Mode().Perm() != 0o640 || !st.ModTime().Equal(f.meta.MTime) {
		t.Errorf("got mode %v mtime %v, want %v %v", st.Mode(), st.ModTime(), os.FileMode(0o640), f.meta.MTime)
	}
	testutil.NoPartials(t, f.dir)
}

// TestReceiverBadStreams: a range outside the file, a stream that
// ends early or carries too much fails the transfer with its code; a
// wrong seal is hash_mismatch and removes the .part. A .part is kept only
// while a record describes bytes of it: one that failed before a byte
// was written is removed (nothing could resume it).
func TestReceiverBadStreams(t *testing.T) {
	tests := []struct {
		name   string
		stream func(f *recvFixture) (b []byte, h wire.RangeHeader)
		seal   bool // send a wrong seal instead
		want   ErrorCode
		kept   bool // .part kept
	}{
		{"range past the end", func(f *recvFixture) ([]byte, wire.RangeHeader) {
			return f.data[:10], wire.RangeHeader{Offset: f.meta.Size - 5, Length: 10}
		}, false, wire.ProtocolViolation, false},
		{"overflowing range", func(f *recvFixture) ([]byte, wire.RangeHeader) {
			return nil, wire.RangeHeader{Offset: 1 << 62, Length: 1 << 62}
		}, false, wire.ProtocolViolation, false},
		{"offset inside, length wraps", func(f *recvFixture) ([]byte, wire.RangeHeader) {
			return nil, wire.RangeHeader{Offset: 10, Length: ^uint64(0) - 5}
		}, false, wire.ProtocolViolation, false},
		{"stream ends early", func(f *recvFixture) ([]byte, wire.RangeHeader) {
			return f.data[:100], wire.RangeHeader{Offset: 0, Length: 200}
		}, false, wire.Truncated, true},
		{"stream too long", func(f *recvFixture) ([]byte, wire.RangeHeader) {
			return f.data[:201], wire.RangeHeader{Offset: 0, Length: 200}
		}, false, wire.TooLong, false},
		{"wrong seal", nil, true, wire.HashMismatch, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newRecvFixture(t, 1<<20)
			rc, _ := f.open(t, "out.bin")
			if tc.seal {
				if e := f.feed(t, rc, 0, f.meta.Size); e != nil {
					t.Fatalf("feed: %v", e)
				}
				bad := f.seal()
				bad[0] ^= 1
				rc.SetSeal(bad)
			} else {
				b, h := tc.stream(f)
				if e := rc.receiveRange(context.Background(), bytes.NewReader(b), h); e == nil || e.Code != tc.want {
					t.Fatalf("receiveRange: got %v, want %v", e, tc.want)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := rc.Wait(ctx)
			if codeOfErr(err) != tc.want {
				t.Fatalf("Wait: got %v, want %v", err, tc.want)
			}
			var e *Error
			if !errors.As(err, &e) || e.Path != "out.bin" {
				t.Errorf("Wait: got %#v, want an *Error naming out.bin", err)
			}
			if exists(t, f.dir, "out.bin") {
				t.Errorf("destination exists after a failure")
			}
			if kept := exists(t, f.dir, PartName("out.bin")); kept != tc.kept {
				t.Errorf(".part kept = %v, want %v", kept, tc.kept)
			}
			if kept := exists(t, f.dir, RecordName("out.bin")); kept != tc.kept {
				t.Errorf("record kept = %v, want %v", kept, tc.kept)
			}
		})
	}
}

// TestReceiverWaitsForStreamEnd: every byte written and the seal in is
// not yet a complete file while a range stream has not ended: a stream
// that then carries one byte too many fails the file, which is never
// renamed into place.
func TestReceiverWaitsForStreamEnd(t *testing.T) {
	f := newRecvFixture(t, 1<<20)
	rc, _ := f.open(t, "out.bin")
	pr, pw := io.Pipe()
	streamErr := make(chan *Error, 1)
	go func() {
		streamErr <- rc.receiveRange(context.Background(), pr, wire.RangeHeader{Offset: 0, Length: f.meta.Size})
	}()
	if _, err := pw.Write(f.data); err != nil {
		t.Fatal(err)
	}
	rc.SetSeal(f.seal())
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	waitErr := make(chan error, 1)
	go func() { waitErr <- rc.Wait(ctx) }()
	select {
	case err := <-waitErr:
		t.Fatalf("Wait returned %v while the range stream was still open", err)
	case <-time.After(100 * time.Millisecond):
	}
	pw.Write([]byte{0}) // one byte past the range
	pw.Close()
	if e := <-streamErr; e == nil || e.Code != wire.TooLong {
		t.Fatalf("receiveRange: got %v, want %v", e, wire.TooLong)
	}
	if err := <-waitErr; codeOfErr(err) != wire.TooLong {
		t.Fatalf("Wait: got %v, want %v", err, wire.TooLong)
	}
	if exists(t, f.dir, "out.bin") {
		t.Errorf("destination exists after a stream that ran long")
	}
}

// TestReceiverResume: a receiver stopped midway records its ranges
// (version 2); the next one offers exactly those and completes the file
// from the rest. A version 1 record counts as its prefix.
func TestReceiverResume(t *testing.T) {
	f := newRecvFixture(t, 6<<20)
	rc, _ := f.open(t, "out.bin")
	f.feed(t, rc, 1<<20, 2<<20)
	f.feed(t, rc, 4<<20, 1<<20)
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(&Error{Code: wire.Cancelled})
	if err := rc.Wait(ctx); codeOfErr(err) != wire.Cancelled {
		t.Fatalf("Wait: got %v, want %v", err, wire.Cancelled)
	}
	b, err := os.ReadFile(filepath.Join(f.dir, RecordName("out.bin")))
	if err != nil {
		t.Fatal(err)
	}
	var rec Record
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatalf("record %s: %v", b, err)
	}
	want := []wire.Range{{Offset: 1 << 20, Length: 2 << 20}, {Offset: 4 << 20, Length: 1 << 20}}
	if rec.Version != RecordVersion || !reflect.DeepEqual(rec.Ranges, want) {
		t.Fatalf("got record %s, want version 2 with %v", b, want)
	}

	// Another version of the source (other mtime): nothing is offered.
	other := f.meta
	other.MTime = other.MTime.Add(time.Second)
	rc2, offer, err := OpenReceiver(ReceiverConfig{Root: f.root, Path: "out.bin", Meta: other})
	if err != nil || len(offer.Have) != 0 {
		t.Fatalf("other version: got have %v, %v; want none", offer.Have, err)
	}
	rc2.Abandon(wire.Cancelled)
	// The record was replaced by the start-over: write it again.
	if exists(t, f.dir, RecordName("out.bin")) {
		t.Errorf("record of the other version kept after a start-over")
	}
	if err := SaveRecord(f.root, "out.bin", &rec); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(f.dir, PartName("out.bin")), append(make([]byte, 1<<20), f.data[1<<20:]...), 0o600)

	rc3, offer := f.open(t, "out.bin")
	if !reflect.DeepEqual(offer.Have, want) || offer.PrefixHash != nil {
		t.Fatalf("resume: got %v, want have %v and no prefix hash", offer, want)
	}
	held, _ := RangeSetOf(offer.Have, f.meta.Size)
	for _, m := range held.Missing(f.meta.Size) {
		f.feed(t, rc3, m.Offset, m.Length)
	}
	rc3.SetSeal(f.seal())
	if err := rc3.Wait(context.Background()); err != nil {
		t.Fatalf("resumed: %v", err)
	}
	testutil.SameFile(t, filepath.Join(f.dir, "out.bin"), f.data)

	// A version 1 record (a sequential .part) is its prefix.
	g := newRecvFixture(t, 3<<20)
	g.writeV1Record(t, "seq.bin", 1<<20)
	rc4, offer := g.open(t, "seq.bin")
	if want := []wire.Range{{Offset: 0, Length: 1 << 20}}; !reflect.DeepEqual(offer.Have, want) {
		t.Fatalf("v1 record: got have %v, want %v", offer.Have, want)
	}
	if want := FileHash(g.data[:1<<20]); !bytes.Equal(offer.PrefixHash, want[:]) {
		t.Errorf("v1 record: got prefix hash %x, want %x", offer.PrefixHash, want)
	}
	g.feed(t, rc4, 1<<20, 2<<20)
	rc4.SetSeal(g.seal())
	if err := rc4.Wait(context.Background()); err != nil {
		t.Fatalf("from v1 record: %v", err)
	}
	testutil.SameFile(t, filepath.Join(g.dir, "seq.bin"), g.data)
}

// TestReceiverCheckpoints: every CheckpointEvery bytes the receiver syncs
// and records what it holds (in the background), without waiting for the
// transfer to stop.
func TestReceiverCheckpoints(t *testing.T) {
	f := newRecvFixture(t, CheckpointEvery+3<<20)
	rc, _ := f.open(t, "out.bin")
	defer rc.Abandon(wire.Cancelled)
	f.feed(t, rc, 0, CheckpointEvery+1<<20)
	rc.wg.Wait() // the checkpoint runs in the background
	rec, absent := LoadRecord(f.root, "out.bin")
	if rec == nil || absent || rec.Version != RecordVersion {
		t.Fatalf("after %d bytes: got record %+v (absent %v), want a version 2 record", CheckpointEvery+1<<20, rec, absent)
	}
	if held := rec.Held(); held.Total() < CheckpointEvery {
		t.Errorf("record holds %d bytes, want at least %d", held.Total(), CheckpointEvery)
	}
}

// TestReceiverRehash: the hash follows the prefix as it is written;
// a range written again below what was hashed (sent twice, and here with
// other bytes, as from a source changed behind an unchanged mtime) makes
// the end hash the whole file again, so the check is always of the bytes
// on disk.
func TestReceiverRehash(t *testing.T) {
	f := newRecvFixture(t, 8<<20)
	rc, _ := f.open(t, "out.bin")
	res := make(chan error, 1)
	go func() { res <- rc.Wait(context.Background()) }()
	f.feed(t, rc, 0, 4<<20)
	testutil.Eventually(t, 10*time.Second, "the hasher passes 4 MiB", func() bool {
		rc.ph.mu.Lock()
		defer rc.ph.mu.Unlock()
		return rc.ph.n >= 4<<20
	})
	// The first MiB again, with other bytes.
	for i := range 1 << 20 {
		f.data[i] ^= 0xff
	}
	f.feed(t, rc, 0, 1<<20)
	f.feed(t, rc, 4<<20, 4<<20)
	rc.SetSeal(f.seal()) // the hash of what is on disk now
	if err := <-res; err != nil {
		t.Fatalf("Wait: %v (the end did not hash the rewritten bytes)", err)
	}
	testutil.SameFile(t, filepath.Join(f.dir, "out.bin"), f.data)
}

// TestReceiverKeepsOnlyResumable: a transfer that ends early keeps its
// .part and record only while a later transfer can resume them: after a
// cancel or a lost connection with bytes written; never after the source
// changed, a hash mismatch or a full disk, nor when nothing durable was
// written (a preallocated .part with no record holds space for nothing).
func TestReceiverKeepsOnlyResumable(t *testing.T) {
	tests := []struct {
		name    string
		written uint64
		code    ErrorCode
		kept    bool
	}{
		{"cancelled after bytes", 300 << 10, wire.Cancelled, true},
		{"interrupted after bytes", 300 << 10, wire.Interrupted, true},
		{"cancelled before a byte", 0, wire.Cancelled, false},
		{"source changed", 300 << 10, wire.SourceChanged, false},
		{"hash mismatch", 300 << 10, wire.HashMismatch, false},
		{"no space", 300 << 10, wire.NoSpace, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newRecvFixture(t, 1<<20)
			rc, _ := f.open(t, "out.bin")
			if tc.written > 0 {
				if e := f.feed(t, rc, 0, tc.written); e != nil {
					t.Fatalf("feed: %v", e)
				}
			}
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(&Error{Code: tc.code})
			if err := rc.Wait(ctx); codeOfErr(err) != tc.code {
				t.Fatalf("Wait: got %v, want %v", err, tc.code)
			}
			if kept := exists(t, f.dir, PartName("out.bin")); kept != tc.kept {
				t.Errorf(".part kept = %v, want %v", kept, tc.kept)
			}
			if kept := exists(t, f.dir, RecordName("out.bin")); kept != tc.kept {
				t.Errorf("record kept = %v, want %v", kept, tc.kept)
			}
			if tc.kept {
				rc, offer := f.open(t, "out.bin")
				if len(offer.Have) != 1 || offer.Have[0].Length != tc.written {
					t.Errorf("resumed offer %+v, want the %d bytes written", offer.Have, tc.written)
				}
				rc.Abandon(wire.Cancelled)
			}
		})
	}
}

package session

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// stripeFixture is a root with a striped receiver for a random file.
type stripeFixture struct {
	root *os.Root
	dir  string
	data []byte
	meta fileMeta
}

func newStripeFixture(t *testing.T, size int) *stripeFixture {
	t.Helper()
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	data := writeRandom(t, filepath.Join(t.TempDir(), "src"), size)
	return &stripeFixture{root: root, dir: dir, data: data, meta: fileMeta{Size: uint64(size), Mode: 0o640, MTime: time.Unix(1700000000, 0)}}
}

// feed writes the range [off, off+n) of the source as one range stream.
func (f *stripeFixture) feed(t *testing.T, sr *stripeReceiver, off, n uint64) *Error {
	t.Helper()
	return sr.receiveRange(context.Background(), bytes.NewReader(f.data[off:off+n]), wire.AnyHeader{Type: wire.RangeStream, Offset: off, Length: n})
}

func (f *stripeFixture) seal() []byte {
	s := sha256.Sum256(f.data)
	return s[:]
}

// TestStripeReceiverAssembles writes ranges out of order, with overlaps
// and duplicates: the result is the source, mode and mtime are set, and
// neither .part nor record is left. Every range is acked once written.
func TestStripeReceiverAssembles(t *testing.T) {
	f := newStripeFixture(t, 5<<20+7)
	sr, have, err := openStripe(f.root, "out.bin", f.meta, false)
	if err != nil || len(have) != 0 {
		t.Fatalf("openStripe: %v, have %v", err, have)
	}
	var acked []wire.Range
	sr.ack = func(r wire.Range) { acked = append(acked, r) }
	fi, err := f.root.Stat(partName("out.bin"))
	if err != nil || uint64(fi.Size()) != f.meta.Size {
		t.Fatalf(".part not preallocated: %v %v", fi, err)
	}
	size := f.meta.Size
	order := [][2]uint64{{3 << 20, size - 3<<20}, {0, 1 << 20}, {2 << 20, 1 << 20}, {1 << 20, 1 << 20}, {0, 1 << 20}}
	for _, r := range order {
		if e := f.feed(t, sr, r[0], r[1]); e != nil {
			t.Fatalf("range %v: %v", r, e)
		}
	}
	if len(acked) != len(order) {
		t.Errorf("acked %d ranges, want %d", len(acked), len(order))
	}
	sr.setSeal(f.seal())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sr.wait(ctx); err != nil {
		t.Fatalf("wait: %v", err)
	}
	sameFile(t, filepath.Join(f.dir, "out.bin"), f.data)
	st, _ := os.Stat(filepath.Join(f.dir, "out.bin"))
	if st.Mode().Perm() != 0o640 || !st.ModTime().Equal(f.meta.MTime) {
		t.Errorf("mode %v mtime %v", st.Mode(), st.ModTime())
	}
	noParts(t, f.dir)
	if _, err := os.Stat(filepath.Join(f.dir, recordName("out.bin"))); !os.IsNotExist(err) {
		t.Errorf("record left: %v", err)
	}
}

// TestStripeReceiverBadStreams: a range outside the file, a stream that
// ends early or carries too much fails the transfer with its code; a
// wrong seal is hash_mismatch and removes the .part.
func TestStripeReceiverBadStreams(t *testing.T) {
	tests := []struct {
		name   string
		stream func(f *stripeFixture) (io []byte, h wire.AnyHeader)
		seal   bool // send a wrong seal instead
		want   ErrorCode
		kept   bool // .part kept
	}{
		{"range past the end", func(f *stripeFixture) ([]byte, wire.AnyHeader) {
			return f.data[:10], wire.AnyHeader{Offset: f.meta.Size - 5, Length: 10}
		}, false, CodeProtocolViolation, true},
		{"overflowing range", func(f *stripeFixture) ([]byte, wire.AnyHeader) {
			return nil, wire.AnyHeader{Offset: 1 << 62, Length: 1 << 62}
		}, false, CodeProtocolViolation, true},
		{"stream ends early", func(f *stripeFixture) ([]byte, wire.AnyHeader) {
			return f.data[:100], wire.AnyHeader{Offset: 0, Length: 200}
		}, false, CodeTruncated, true},
		{"stream too long", func(f *stripeFixture) ([]byte, wire.AnyHeader) {
			return f.data[:201], wire.AnyHeader{Offset: 0, Length: 200}
		}, false, CodeTooLong, false},
		{"wrong seal", nil, true, CodeHashMismatch, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newStripeFixture(t, 1<<20)
			sr, _, err := openStripe(f.root, "out.bin", f.meta, false)
			if err != nil {
				t.Fatal(err)
			}
			if tc.seal {
				f.feed(t, sr, 0, f.meta.Size)
				bad := f.seal()
				bad[0] ^= 1
				sr.setSeal(bad)
			} else {
				b, h := tc.stream(f)
				h.Type = wire.RangeStream
				if e := sr.receiveRange(context.Background(), bytes.NewReader(b), h); e == nil || e.Code != tc.want {
					t.Fatalf("receiveRange: %v, want %v", e, tc.want)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err = sr.wait(ctx)
			if codeOfErr(err) != tc.want {
				t.Fatalf("wait: %v, want %v", err, tc.want)
			}
			if _, err := os.Stat(filepath.Join(f.dir, "out.bin")); !os.IsNotExist(err) {
				t.Errorf("destination exists after a failure: %v", err)
			}
			_, perr := os.Stat(filepath.Join(f.dir, partName("out.bin")))
			if kept := perr == nil; kept != tc.kept {
				t.Errorf(".part kept = %v, want %v", kept, tc.kept)
			}
		})
	}
}

// TestStripeReceiverResume: a receiver stopped midway records its ranges
// (version 2); the next one offers exactly those and completes the file
// from the rest. A version 1 record counts as its prefix.
func TestStripeReceiverResume(t *testing.T) {
	f := newStripeFixture(t, 6<<20)
	sr, _, err := openStripe(f.root, "out.bin", f.meta, false)
	if err != nil {
		t.Fatal(err)
	}
	f.feed(t, sr, 1<<20, 2<<20)
	f.feed(t, sr, 4<<20, 1<<20)
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(&Error{Code: CodeCancelled})
	if err := sr.wait(ctx); codeOfErr(err) != CodeCancelled {
		t.Fatalf("wait: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(f.dir, recordName("out.bin")))
	if err != nil {
		t.Fatal(err)
	}
	var rec resumeRecord
	json.Unmarshal(b, &rec)
	want := []wire.Range{{Offset: 1 << 20, Length: 2 << 20}, {Offset: 4 << 20, Length: 1 << 20}}
	if rec.Version != stripedRecordVersion || !reflect.DeepEqual(rec.Ranges, want) {
		t.Fatalf("record %s, want version 2 with %v", b, want)
	}

	// Another version of the source (other mtime): nothing is offered.
	other := f.meta
	other.MTime = other.MTime.Add(time.Second)
	sr2, have, err := openStripe(f.root, "out.bin", other, false)
	if err != nil || len(have) != 0 {
		t.Fatalf("other version: have %v, %v", have, err)
	}
	sr2.f.Close()
	// The record was replaced by the start-over: write it again.
	if err := saveRecord(f.root, "out.bin", &rec); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(f.dir, partName("out.bin")), append(make([]byte, 1<<20), f.data[1<<20:]...), 0o600)

	sr3, have, err := openStripe(f.root, "out.bin", f.meta, false)
	if err != nil || !reflect.DeepEqual(have, want) {
		t.Fatalf("resume: have %v, %v; want %v", have, err, want)
	}
	held, _ := rangeSetOf(have, f.meta.Size)
	for _, m := range held.missing(f.meta.Size) {
		f.feed(t, sr3, m.Offset, m.Length)
	}
	sr3.setSeal(f.seal())
	if err := sr3.wait(context.Background()); err != nil {
		t.Fatalf("resumed: %v", err)
	}
	sameFile(t, filepath.Join(f.dir, "out.bin"), f.data)

	// A version 1 record (a sequential .part) is its prefix.
	g := newStripeFixture(t, 3<<20)
	os.WriteFile(filepath.Join(g.dir, partName("seq.bin")), g.data[:1<<20], 0o600)
	h := sha256.New()
	h.Write(g.data[:1<<20])
	if err := saveRecord(g.root, "seq.bin", &resumeRecord{Size: g.meta.Size, MTime: g.meta.MTime.UnixNano(), Offset: 1 << 20, State: hashState(h)}); err != nil {
		t.Fatal(err)
	}
	sr4, have, err := openStripe(g.root, "seq.bin", g.meta, false)
	if err != nil || !reflect.DeepEqual(have, []wire.Range{{Offset: 0, Length: 1 << 20}}) {
		t.Fatalf("v1 record: have %v, %v", have, err)
	}
	g.feed(t, sr4, 1<<20, 2<<20)
	sr4.setSeal(g.seal())
	if err := sr4.wait(context.Background()); err != nil {
		t.Fatalf("from v1 record: %v", err)
	}
	sameFile(t, filepath.Join(g.dir, "seq.bin"), g.data)
}

// TestStripeCheckpoints: every checkpointEvery bytes the receiver syncs
// and records what it holds (in the background), without waiting for the
// transfer to stop.
func TestStripeCheckpoints(t *testing.T) {
	f := newStripeFixture(t, checkpointEvery+3<<20)
	sr, _, err := openStripe(f.root, "out.bin", f.meta, false)
	if err != nil {
		t.Fatal(err)
	}
	defer sr.f.Close()
	f.feed(t, sr, 0, checkpointEvery+1<<20)
	sr.wg.Wait() // the checkpoint runs in the background
	rec := loadRecord(f.root, "out.bin")
	if rec == nil || rec.Version != stripedRecordVersion {
		t.Fatalf("no version 2 record after %d bytes: %+v", checkpointEvery+1<<20, rec)
	}
	if held := rec.held(); held.total() < checkpointEvery {
		t.Errorf("record holds %d bytes, want at least %d", held.total(), checkpointEvery)
	}
}

// TestStripeReceiverRehash: the hash follows the prefix as it is written;
// a range written again below what was hashed (sent twice, and here with
// other bytes, as from a source changed behind an unchanged mtime) makes
// the end hash the whole file again, so the check is always of the bytes
// on disk.
func TestStripeReceiverRehash(t *testing.T) {
	f := newStripeFixture(t, 8<<20)
	sr, _, err := openStripe(f.root, "out.bin", f.meta, false)
	if err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 1)
	go func() { res <- sr.wait(context.Background()) }()
	f.feed(t, sr, 0, 4<<20)
	waitUntil(t, 10*time.Second, "the hasher passes 4 MiB", func() bool {
		sr.mu.Lock()
		defer sr.mu.Unlock()
		return sr.hashed >= 4<<20
	})
	// The first MiB again, with other bytes.
	for i := range 1 << 20 {
		f.data[i] ^= 0xff
	}
	f.feed(t, sr, 0, 1<<20)
	f.feed(t, sr, 4<<20, 4<<20)
	sr.setSeal(f.seal()) // the hash of what is on disk now
	if err := <-res; err != nil {
		t.Fatalf("wait: %v (the end did not hash the rewritten bytes)", err)
	}
	sameFile(t, filepath.Join(f.dir, "out.bin"), f.data)
}

package xfer

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/session/internal/wire"
)

// TestSender sends a file over a loopback QUIC connection to a Receiver:
// whole, resumed from the ranges an interrupted transfer left, and from a
// source that changes under it.
func TestSender(t *testing.T) {
	const size = 3<<20 + 17 // 13 ranges of rangeSize over a pool, one range alone
	tests := []struct {
		name string
		size int
		// held are ranges an interrupted transfer left in the .part,
		// written in this order.
		held [][2]uint64 // offset, length
		// before changes the source after the interruption, keeping
		// its size and mtime; nil for none.
		before func(t *testing.T, path string, meta FileMeta)
		// during changes the source once its first bytes are on the
		// wire; nil for none.
		during func(t *testing.T, path string, meta FileMeta)
		want   ErrorCode // of Run; wire.NoError: the file arrives
		// wantPrefix says the receiver offers a prefix hash.
		wantPrefix bool
	}{
		{name: "whole file", size: size},
		{name: "empty file", size: 0},
		{name: "one range", size: 1000},
		{
			name: "resume ranges past the start",
			size: size,
			held: [][2]uint64{{2 << 20, 512 << 10}, {256<<10 + 5, 1 << 20}},
		},
		{
			name:       "resume a hashed prefix",
			size:       size,
			held:       [][2]uint64{{0, 1 << 20}, {2 << 20, 512 << 10}},
			wantPrefix: true,
		},
		{
			name:       "resume all but the last byte",
			size:       size,
			held:       [][2]uint64{{0, size - 1}},
			wantPrefix: true,
		},
		{
			name:       "source changed behind its size and mtime",
			size:       size,
			held:       [][2]uint64{{0, 1 << 20}},
			before:     flipByte(100),
			want:       wire.HashMismatch,
			wantPrefix: true,
		},
		{
			name: "source changed behind its size and mtime, past the prefix",
			size: size,
			held: [][2]uint64{{0, 1 << 20}},
			// The prefix checks out; the byte is sent as it is
			// now, and the receiver's check of the whole file fails
			// only if the sender's hash missed it: it must not.
			before:     flipByte(2 << 20),
			wantPrefix: true,
		},
		{
			name:   "source grows",
			size:   size,
			during: func(t *testing.T, path string, _ FileMeta) { appendBytes(t, path, 1000) },
			want:   wire.SourceChanged,
		},
		{
			name: "source shrinks",
			size: size,
			during: func(t *testing.T, path string, _ FileMeta) {
				if err := os.Truncate(path, size/2); err != nil {
					t.Errorf("truncate: %v", err)
				}
			},
			want: wire.SourceChanged,
		},
		{
			name: "source rewritten in place",
			size: size,
			during: func(t *testing.T, path string, meta FileMeta) {
				flipByte(size-1)(t, path, meta)
				if err := os.Chtimes(path, time.Now(), meta.MTime.Add(time.Second)); err != nil {
					t.Errorf("chtimes: %v", err)
				}
			},
			want: wire.SourceChanged,
		},
		{
			name:   "resumed source grows",
			size:   size,
			held:   [][2]uint64{{0, 1 << 20}},
			during: func(t *testing.T, path string, _ FileMeta) { appendBytes(t, path, 1) },
			want:   wire.SourceChanged,
			// The prefix was offered.
			wantPrefix: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lb, ctx := newLoopback(t)

			src, data, f, meta := openTestSource(t, tc.size)
			dir, root := testutil.TempRoot(t)
			const dest = "d/out.bin"
			if err := os.Mkdir(filepath.Join(dir, "d"), 0o755); err != nil {
				t.Fatal(err)
			}

			// An interrupted transfer leaves the held ranges and their
			// record.
			var held RangeSet
			if len(tc.held) > 0 {
				interrupted(t, root, dest, meta, data, tc.held)
				for _, r := range tc.held {
					held.Add(r[0], r[1])
				}
			}
			if tc.before != nil {
				tc.before(t, src, meta)
			}
			var once sync.Once
			scfg := SenderConfig{Path: "src.bin", File: f, Meta: meta}
			if tc.during != nil {
				scfg.Progress = func(int) { once.Do(func() { tc.during(t, src, meta) }) }
			}
			o := lb.run(ctx, 7, ReceiverConfig{Root: root, Path: dest, Meta: meta}, scfg)

			if got := o.offer.Have; !reflect.DeepEqual(got, held.Ranges()) {
				t.Errorf("offer: got have %v, want %v", got, held.Ranges())
			}
			if got := o.offer.PrefixHash != nil; got != tc.wantPrefix {
				t.Errorf("offer: got a prefix hash %v, want %v", got, tc.wantPrefix)
			}
			if o.written > 1 {
				t.Errorf("written called %d times, want at most once", o.written)
			}
			headers := lb.received(7)
			if tc.want != wire.NoError {
				if got := codeOfErr(o.sendErr); got != tc.want {
					t.Fatalf("Run: got %v (verdict %v), want %v", o.sendErr, o.verdict, tc.want)
				}
				if e := (*Error)(nil); !errors.As(o.sendErr, &e) || e.Path != "src.bin" {
					t.Errorf("Run: got %#v, want an *Error naming src.bin", o.sendErr)
				}
				if exists(t, dir, dest) {
					t.Errorf("destination exists after a failed send")
				}
				if !exists(t, dir, PartName(dest)) {
					t.Errorf(".part removed after the sender failed, want it kept for a resume")
				}
				if tc.want == wire.HashMismatch && (o.sent != 0 || len(headers) != 0) {
					t.Errorf("a mismatched prefix: got %d bytes on %d range streams, want none", o.sent, len(headers))
				}
				return
			}
			if o.sendErr != nil || o.recvErr != nil {
				t.Fatalf("got Run %v, Wait %v; want no errors", o.sendErr, o.recvErr)
			}
			if d, ok := o.verdict.(*wire.Done); !ok || d.Code != wire.NoError || d.ID != 7 {
				t.Fatalf("verdict: got %#v, want a Done with no error for id 7", o.verdict)
			}
			if tc.before != nil {
				// The file as it is now.
				var err error
				if data, err = os.ReadFile(src); err != nil {
					t.Fatal(err)
				}
			}
			testutil.SameFile(t, filepath.Join(dir, dest), data)
			testutil.NoPartials(t, dir)

			// Exactly the missing bytes were sent, once, in ranges
			// of at most maxRange: the file is alone on its
			// connection (over a pool, of rangeSize).
			chunk := uint64(maxRange)
			missing := held.Missing(meta.Size)
			var total uint64
			for _, r := range missing {
				total += r.Length
			}
			want, _ := RangeSetOf(missing, meta.Size)
			var got RangeSet
			var sum uint64
			for _, h := range headers {
				if h.Length > chunk {
					t.Errorf("range %d+%d: got %d bytes, want at most %d", h.Offset, h.Length, h.Length, chunk)
				}
				got.Add(h.Offset, h.Length)
				sum += h.Length
			}
			if !reflect.DeepEqual(got.Ranges(), want.Ranges()) || sum != total {
				t.Errorf("range streams: got %v (%d bytes), want %v (%d bytes)", got.Ranges(), sum, missing, total)
			}
			if o.sent != int64(total) {
				t.Errorf("progress: got %d bytes, want %d", o.sent, total)
			}
			if want := (total + chunk - 1) / chunk; total > 0 && uint64(len(headers)) < want {
				t.Errorf("got %d range streams, want at least %d", len(headers), want)
			}
		})
	}
}

// interrupted leaves in root what a transfer of data to dest that wrote
// the held ranges (in that order) and was then cancelled leaves: a .part
// and a record of those ranges.
func interrupted(t *testing.T, root *os.Root, dest string, meta FileMeta, data []byte, held [][2]uint64) {
	t.Helper()
	rc, _, err := OpenReceiver(ReceiverConfig{Root: root, Path: dest, Meta: meta})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range held {
		if e := rc.receiveRange(context.Background(), bytes.NewReader(data[r[0]:r[0]+r[1]]), wire.RangeHeader{Offset: r[0], Length: r[1]}); e != nil {
			t.Fatalf("range %v: %v", r, e)
		}
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(&Error{Code: wire.Interrupted})
	if err := rc.Wait(ctx); codeOfErr(err) != wire.Interrupted {
		t.Fatalf("Wait: got %v, want %v", err, wire.Interrupted)
	}
}

// flipByte returns a change that inverts the byte at off of the source
// and restores its mtime.
func flipByte(off int64) func(t *testing.T, path string, meta FileMeta) {
	return func(t *testing.T, path string, meta FileMeta) {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Errorf("open: %v", err)
			return
		}
		defer f.Close()
		b := make([]byte, 1)
		if _, err := f.ReadAt(b, off); err != nil {
			t.Errorf("read: %v", err)
			return
		}
		b[0] ^= 0xff
		if _, err := f.WriteAt(b, off); err != nil {
			t.Errorf("write: %v", err)
		}
		if err := os.Chtimes(path, time.Now(), meta.MTime); err != nil {
			t.Errorf("chtimes: %v", err)
		}
	}
}

// appendBytes appends n zero bytes to the file at path.
func appendBytes(t *testing.T, path string, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Errorf("open: %v", err)
		return
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, n)); err != nil {
		t.Errorf("append: %v", err)
	}
}

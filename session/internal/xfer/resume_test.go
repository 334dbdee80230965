package xfer

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/session/internal/wire"
)

// TestReceiverResumeAcrossPoolSizes: a .part left by one transfer is
// resumed by another whatever either did: ranges received out of order
// (a pool) and checkpointed, when the context ended or every
// CheckpointEvery bytes before a crash, or a version 1 prefix (a
// sequential transfer of qxfer 1), are completed by a new Receiver fed
// the missing ranges in order (a pool of one). The file comes out right,
// and neither .part nor record remains.
func TestReceiverResumeAcrossPoolSizes(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name string
		size int
		// prepare leaves a .part and its record for out.bin, and
		// returns the ranges the next Receiver must offer.
		prepare func(t *testing.T, f *recvFixture) []wire.Range
	}{
		{
			name: "out of order, checkpointed as the context ends",
			size: 6*mib + 123,
			prepare: func(t *testing.T, f *recvFixture) []wire.Range {
				rc, _ := f.open(t, "out.bin")
				for _, r := range [][2]uint64{{5 * mib, 123}, {4 * mib, mib}, {mib, mib}, {3 * mib, 512 << 10}} {
					if e := f.feed(t, rc, r[0], r[1]); e != nil {
						t.Fatalf("range %v: %v", r, e)
					}
				}
				ctx, cancel := context.WithCancelCause(context.Background())
				cancel(&Error{Code: wire.Interrupted})
				if err := rc.Wait(ctx); codeOfErr(err) != wire.Interrupted {
					t.Fatalf("Wait: got %v, want %v", err, wire.Interrupted)
				}
				return []wire.Range{{Offset: mib, Length: mib}, {Offset: 3 * mib, Length: 512 << 10}, {Offset: 4 * mib, Length: mib + 123}}
			},
		},
		{
			name: "out of order, checkpointed every CheckpointEvery bytes, then a crash",
			size: CheckpointEvery + 4*mib,
			prepare: func(t *testing.T, f *recvFixture) []wire.Range {
				rc, _ := f.open(t, "out.bin")
				// Exactly CheckpointEvery bytes, the last range
				// first: one checkpoint, in the background.
				half := uint64(CheckpointEvery / 2)
				for _, r := range [][2]uint64{{f.meta.Size - half, half}, {2 * mib, half}} {
					if e := f.feed(t, rc, r[0], r[1]); e != nil {
						t.Fatalf("range %v: %v", r, e)
					}
				}
				rc.wg.Wait()
				// Bytes written after the checkpoint are not
				// recorded: the crash (Abandon checkpoints
				// nothing) may have lost them.
				if e := f.feed(t, rc, 0, mib); e != nil {
					t.Fatal(e)
				}
				rc.Abandon(wire.Interrupted)
				return []wire.Range{{Offset: 2 * mib, Length: half}, {Offset: f.meta.Size - half, Length: half}}
			},
		},
		{
			name: "in order, then checkpointed as the context ends",
			size: 3*mib + 1,
			prepare: func(t *testing.T, f *recvFixture) []wire.Range {
				rc, _ := f.open(t, "out.bin")
				for _, r := range [][2]uint64{{0, mib}, {mib, mib}} {
					if e := f.feed(t, rc, r[0], r[1]); e != nil {
						t.Fatal(e)
					}
				}
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				if err := rc.Wait(ctx); codeOfErr(err) != wire.Cancelled {
					t.Fatalf("Wait: got %v, want %v", err, wire.Cancelled)
				}
				return []wire.Range{{Offset: 0, Length: 2 * mib}}
			},
		},
		{
			name: "version 1 prefix",
			size: 3*mib + 5,
			prepare: func(t *testing.T, f *recvFixture) []wire.Range {
				f.writeV1Record(t, "out.bin", mib+7)
				return []wire.Range{{Offset: 0, Length: mib + 7}}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newRecvFixture(t, tc.size)
			want := tc.prepare(t, f)
			if !exists(t, f.dir, RecordName("out.bin")) {
				t.Fatalf("no record after the first transfer")
			}

			rc, offer := f.open(t, "out.bin")
			if !reflect.DeepEqual(offer.Have, want) {
				t.Fatalf("resume: got have %v, want %v", offer.Have, want)
			}
			fi, err := os.Stat(filepath.Join(f.dir, PartName("out.bin")))
			if err != nil || uint64(fi.Size()) != f.meta.Size {
				t.Fatalf(".part: got %v %v, want %d bytes", fi, err, f.meta.Size)
			}
			held, _ := RangeSetOf(offer.Have, f.meta.Size)
			for _, m := range split(held.Missing(f.meta.Size), 256<<10) {
				if e := f.feed(t, rc, m.Offset, m.Length); e != nil {
					t.Fatalf("range %v: %v", m, e)
				}
			}
			f.finish(t, rc, "resumed")
			testutil.NoPartials(t, f.dir)
		})
	}
}

// TestReceiverResumeLongPart: a .part longer than the file its record
// describes (left by another tool, or a version 1 .part written past its
// file) never makes the destination longer than the file: the hash
// covers only Size bytes, so a longer .part would pass the check.
func TestReceiverResumeLongPart(t *testing.T) {
	tests := []struct {
		name  string
		write func(t *testing.T, f *recvFixture)
	}{
		{"version 1", func(t *testing.T, f *recvFixture) {
			f.writeV1Record(t, "out.bin", 1<<20)
		}},
		{"version 2", func(t *testing.T, f *recvFixture) {
			rec := &Record{Size: f.meta.Size, MTime: f.meta.MTime.UnixNano(), Ranges: []wire.Range{{Offset: 1 << 20, Length: 1 << 20}}}
			if err := SaveRecord(f.root, "out.bin", rec); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(f.dir, PartName("out.bin")), f.data, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newRecvFixture(t, 3<<20)
			tc.write(t, f)
			// The .part runs 4 KiB past the file.
			pf, err := os.OpenFile(filepath.Join(f.dir, PartName("out.bin")), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			if fi, _ := pf.Stat(); fi.Size() < int64(f.meta.Size) {
				pf.Truncate(int64(f.meta.Size))
			}
			if _, err := pf.Write(make([]byte, 4096)); err != nil {
				t.Fatal(err)
			}
			pf.Close()

			rc, offer := f.open(t, "out.bin")
			held, _ := RangeSetOf(offer.Have, f.meta.Size)
			for _, m := range held.Missing(f.meta.Size) {
				if e := f.feed(t, rc, m.Offset, m.Length); e != nil {
					t.Fatalf("range %v: %v", m, e)
				}
			}
			f.finish(t, rc, "resumed")
		})
	}
}

package session

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/zeebo/blake3"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// TestDeltaHostilePlan pushes with a hand-made plan that does not fit
// the server's old version: each is refused with bad_delta, the old
// version is untouched, no partial file is left, and the server goes on
// serving.
func TestDeltaHostilePlan(t *testing.T) {
	ts := startServer(t, ServerConfig{}, nil)
	const size = 4 << 20
	old := testutil.WriteRandom(t, filepath.Join(ts.root, "f.img"), size)
	tests := []struct {
		name string
		plan func(sig []xfer.Chunk) []wire.CopyOp
	}{
		{"source past the old version", func(sig []xfer.Chunk) []wire.CopyOp {
			return []wire.CopyOp{{Offset: 0, Source: size - 100, Length: 1000, Sum: sig[0].Sum}}
		}},
		{"source overflows", func(sig []xfer.Chunk) []wire.CopyOp {
			return []wire.CopyOp{{Offset: 0, Source: 1<<62 - 1, Length: 1000, Sum: sig[0].Sum}}
		}},
		{"wrong chunk sum", func(sig []xfer.Chunk) []wire.CopyOp {
			return []wire.CopyOp{{Offset: 0, Source: sig[1].Offset, Length: sig[1].Length, Sum: sig[0].Sum}}
		}},
		{"offset past the new version", func(sig []xfer.Chunk) []wire.CopyOp {
			return []wire.CopyOp{{Offset: size, Source: 0, Length: sig[0].Length, Sum: sig[0].Sum}}
		}},
		{"overlapping operations", func(sig []xfer.Chunk) []wire.CopyOp {
			return []wire.CopyOp{
				{Offset: 0, Source: 0, Length: sig[0].Length, Sum: sig[0].Sum},
				{Offset: 1, Source: 0, Length: sig[0].Length, Sum: sig[0].Sum},
			}
		}},
		{"operation too long", func(sig []xfer.Chunk) []wire.CopyOp {
			return []wire.CopyOp{{Offset: 0, Source: 0, Length: xfer.ChunkMax + 1, Sum: sig[0].Sum}}
		}},
		{"empty operation", func(sig []xfer.Chunk) []wire.CopyOp {
			return []wire.CopyOp{{Offset: 0, Source: 0, Length: 0, Sum: sig[0].Sum}}
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := dialRaw(t, ts)
			defer p.close()
			p.hello()
			id := uint64(i + 1)
			sig := deltaSig(p, id, size, i+5)
			var off uint64
			if len(sig) > 0 {
				off = sig[len(sig)-1].Offset + sig[len(sig)-1].Length
			}
			if off != size || len(sig) < 2 {
				t.Fatalf("signature: %d chunks of %d bytes, want at least 2 of %d", len(sig), off, size)
			}
			p.send(&wire.DeltaPlan{ID: id, Last: true, Ops: tt.plan(sig)})
			if r := expectMsg[*wire.Reject](p); r.ID != id || r.Code != CodeBadDelta {
				t.Errorf("got Reject{ID: %d, Code: %v, Msg: %q}, want ID %d, %v", r.ID, r.Code, r.Msg, id, CodeBadDelta)
			}
			testutil.SameFile(t, filepath.Join(ts.root, "f.img"), old)
			testutil.NoPartials(t, ts.root)
			checkServes(t, ts)
		})
	}
}

// TestDeltaPlanAfterLast: plan frames after the last one are dropped (a
// client that goes on sending them does not hold up the session), and a
// plan that copies every chunk leaves nothing to send but the seal.
func TestDeltaPlanAfterLast(t *testing.T) {
	ts := startServer(t, ServerConfig{}, nil)
	const size = 4 << 20
	data := testutil.WriteRandom(t, filepath.Join(ts.root, "f.img"), size)
	p := dialRaw(t, ts)
	defer p.close()
	p.hello()
	var ops []wire.CopyOp
	for _, c := range deltaSig(p, 1, size, 9) {
		ops = append(ops, wire.CopyOp{Offset: c.Offset, Source: c.Offset, Length: c.Length, Sum: c.Sum})
	}
	p.send(&wire.DeltaPlan{ID: 1, Last: true, Ops: ops})
	for range 8 {
		p.send(&wire.DeltaPlan{ID: 1, Ops: ops[:1]})
	}
	acc := expectMsg[*wire.Accept](p)
	if len(acc.Have) != 1 || acc.Have[0] != (wire.Range{Offset: 0, Length: size}) || acc.PrefixHash != nil {
		t.Fatalf("got Accept{Have: %v, PrefixHash: %x}, want the whole file held, with no prefix hash (a delta)", acc.Have, acc.PrefixHash)
	}
	// A delta's seal: the file hash of the bytes outside Have, none.
	p.send(&wire.Seal{ID: 1, Hash: xfer.FileHash(nil)})
	if d := expectMsg[*wire.Done](p); d.ID != 1 || d.Code != CodeOK {
		t.Errorf("got Done{ID: %d, Code: %v, Msg: %q}, want ID 1, %v", d.ID, d.Code, d.Msg, CodeOK)
	}
	testutil.SameFile(t, filepath.Join(ts.root, "f.img"), data)
	testutil.NoPartials(t, ts.root)
	checkServes(t, ts)
}

// TestDeltaWrongSeal: a delta push whose Seal does not match its literal
// bytes (the BLAKE3-256 of the bytes outside the Accept's Have) is
// hash_mismatch: the destination keeps its old version, no .part or
// record is left, and the server goes on serving. The same push with the
// right seal replaces the file, so the check, not the plan, refuses it.
func TestDeltaWrongSeal(t *testing.T) {
	const size = 4 << 20
	const changed = 100 << 10 // the new version differs in its last bytes
	for _, tc := range []struct {
		name string
		seal func(literal []byte) []byte
		want ErrorCode
	}{
		{"right seal", func(l []byte) []byte { return xfer.FileHash(l) }, CodeOK},
		{"wrong seal", func(l []byte) []byte { return xfer.FileHash(append(l, 0)) }, CodeHashMismatch},
		{"v2's seal, BLAKE3 of the literal bytes, cut to size", func(l []byte) []byte { s := blake3.Sum256(l); return s[:wire.HashSize] }, CodeHashMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, ServerConfig{}, nil)
			old := testutil.WriteRandom(t, filepath.Join(ts.root, "f.img"), size)
			next := bytes.Clone(old)
			for i := size - changed; i < size; i++ {
				next[i] ^= 0xa5
			}
			p := dialRaw(t, ts)
			defer p.close()
			p.hello()
			// Copy every chunk of the old version that ends before
			// the change, in place.
			var ops []wire.CopyOp
			for _, c := range deltaSig(p, 1, size, 9) {
				if c.Offset+c.Length <= size-changed {
					ops = append(ops, wire.CopyOp{Offset: c.Offset, Source: c.Offset, Length: c.Length, Sum: c.Sum})
				}
			}
			if len(ops) == 0 {
				t.Fatal("no chunk of the old version before the change: nothing to copy")
			}
			copied := ops[len(ops)-1].Offset + ops[len(ops)-1].Length
			p.send(&wire.DeltaPlan{ID: 1, Last: true, Ops: ops})
			acc := expectMsg[*wire.Accept](p)
			if len(acc.Have) != 1 || acc.Have[0] != (wire.Range{Offset: 0, Length: copied}) {
				t.Fatalf("got Accept{Have: %v}, want the %d copied bytes held", acc.Have, copied)
			}
			literal := next[copied:]
			ws := p.openRange(1, copied, uint64(len(literal)))
			ws.Write(literal)
			ws.Close()
			p.send(&wire.Seal{ID: 1, Hash: tc.seal(literal)})
			if d := expectMsg[*wire.Done](p); d.ID != 1 || d.Code != tc.want {
				t.Fatalf("got Done{ID: %d, Code: %v, Msg: %q}, want ID 1, %v", d.ID, d.Code, d.Msg, tc.want)
			}
			want := old
			if tc.want == CodeOK {
				want = next
			}
			testutil.SameFile(t, filepath.Join(ts.root, "f.img"), want)
			testutil.NoPartials(t, ts.root)
			checkServes(t, ts)
		})
	}
}

// deltaSig offers a delta push of f.img (size bytes, mtime fileTime(mt))
// as request id and returns the server's signature of its old version,
// every DeltaSig frame read up to the last, with the chunks' offsets.
func deltaSig(p *rawPeer, id, size uint64, mt int) []xfer.Chunk {
	p.send(&wire.Put{ID: id, Path: "f.img", Size: size, Mode: 0o600, MTime: fileTime(mt), Flags: wire.FlagForce | wire.FlagDelta})
	var sig []xfer.Chunk
	var off uint64
	for last := false; !last; {
		m := expectMsg[*wire.DeltaSig](p)
		for _, c := range m.Chunks {
			sig = append(sig, xfer.Chunk{Offset: off, Length: c.Length, Sum: c.Sum})
			off += c.Length
		}
		last = m.Last
	}
	return sig
}

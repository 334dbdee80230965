package session

import (
	"bytes"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/internal/udpproxy"
	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// TestDeltaStores moves an old version of a file, then a new one with
// scattered edits, with Force, push and pull, on each store, and counts
// the second transfer's bytes on the wire. On a POSIX root both ways
// are deltas (TestDeltaPush and TestDeltaPull cover every edit). On an
// S3 root a pull is a delta too (the server chunks the object through
// its ranged GETs), but a push is sent whole: the store cannot assemble
// an object from chunks of the old one (a multipart upload takes whole
// parts; README, "S3 roots"), so the server answers FlagDelta as if it
// were absent, as PROTOCOL.md's "When" allows, and the file goes whole,
// stored whole, with nothing left of the upload.
//
// The file is a third of deltaSize, with two edits of 64 KiB (under
// -race, chunking and hashing cost about 1 s per MiB and side).
func TestDeltaStores(t *testing.T) {
	const size = 8 << 20
	tc := deltaEdit{name: "two edits", edit: func(old []byte, r *rand.Rand) []byte {
		b := bytes.Clone(old)
		for _, off := range []int{size / 4, 3 * size / 4} {
			fillRandom(r, b[off:off+64<<10])
		}
		return b
	}, maxWire: 0.15}
	forEachStore(t, ServerConfig{}, func(t *testing.T, e *storeEnv) {
		proxy := throttledProxy(t, e.ts, udpproxy.Config{})
		c := e.ts.dial(t, proxy.Addr().String())
		for _, dir := range []Direction{Push, Pull} {
			t.Run(dir.String(), func(t *testing.T) {
				minWire, maxWire := tc.minWire, tc.maxWire
				if e.isS3() && dir == Push {
					// Whole, once: at least the file, and well under a
					// second copy. Above the file are QUIC's headers and
					// acks and what it sends again; the S3 store's
					// slower writes under -race made that 10.4% in one CI
					// run, so the bound is 25%, not the 10% of a POSIX
					// root's whole send (TestDeltaPush).
					minWire, maxWire = 1, 1.25
				}
				r := rand.New(rand.NewPCG(2, uint64(dir)))
				old := make([]byte, size)
				fillRandom(r, old)
				newer := tc.edit(old, r)
				local := t.TempDir()
				name := "f-" + dir.String() + ".img"
				then := time.Unix(1e9, 0)
				if dir == Push {
					e.put(t, name, old, 0o644, then)
					writeTestFile(t, filepath.Join(local, name), newer)
				} else {
					writeTestFile(t, filepath.Join(local, name), old)
					e.put(t, name, newer, 0o644, then)
				}
				before := wireBytes(proxy)
				f := onlyFile(t, "delta transfer", transferOf(dir, local, name, Options{Force: true}), c)
				if f.Err != nil {
					t.Fatalf("transfer: %v", f.Err)
				}
				moved := wireBytes(proxy) - before
				if dir == Push {
					e.sameFile(t, name, newer)
					e.noPartials(t)
				} else {
					testutil.SameFile(t, filepath.Join(local, name), newer)
					testutil.NoPartials(t, local)
				}
				frac := float64(moved) / float64(len(newer))
				t.Logf("%d bytes on the wire for %d (%.2f%%)", moved, len(newer), 100*frac)
				if frac > maxWire {
					t.Errorf("%d bytes on the wire (%.2f%% of the file), want at most %.2f%%", moved, 100*frac, 100*maxWire)
				}
				if frac < minWire {
					t.Errorf("%d bytes on the wire (%.2f%% of the file), want at least %.2f%%", moved, 100*frac, 100*minWire)
				}
			})
		}
	})
}

// TestDeltaHostileSignature pulls with a signature whose chunk is empty
// or over the largest chunk, from each store (an S3 root chunks its
// object for a delta pull like a directory root): the server refuses the
// pull with bad_delta, the file stays, and the server goes on serving.
func TestDeltaHostileSignature(t *testing.T) {
	forEachStore(t, ServerConfig{}, func(t *testing.T, e *storeEnv) {
		data := randomBytes(t, 2<<20)
		e.put(t, "f.img", data, 0o644, time.Unix(1e9, 0))
		for _, n := range []uint64{0, xfer.ChunkMax + 1} {
			p := dialRaw(t, e.ts)
			p.hello()
			p.send(&wire.Get{ID: 1, Path: "f.img", Flags: wire.FlagDelta})
			p.send(&wire.DeltaSig{ID: 1, Last: true, Chunks: []wire.SigChunk{{Length: n}}})
			if r := expectMsg[*wire.Reject](p); r.ID != 1 || r.Code != CodeBadDelta {
				t.Errorf("chunk of %d bytes: got Reject{ID: %d, Code: %v, Msg: %q}, want ID 1, %v", n, r.ID, r.Code, r.Msg, CodeBadDelta)
			}
			p.close()
			checkServes(t, e.ts)
		}
		e.sameFile(t, "f.img", data)
	})
}

package session

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/internal/udpproxy"
)

// deltaEdit makes a new version of a file from the old one.
type deltaEdit struct {
	name string
	edit func(old []byte, r *rand.Rand) []byte
	// maxWire is the most bytes the second transfer may put on the wire
	// (both directions, counted by the proxy), as a fraction of the size.
	maxWire float64
	// minWire is the least: a file that shares nothing goes whole.
	minWire float64
}

const deltaSize = 24 << 20

// deltaEdits are the changes of issue 18's "Done when", at test scale.
var deltaEdits = []deltaEdit{
	{name: "scattered edits", edit: func(old []byte, r *rand.Rand) []byte {
		b := bytes.Clone(old)
		for i := range 8 {
			off := i*len(b)/8 + r.IntN(len(b)/8-64<<10)
			fillRandom(r, b[off:off+64<<10])
		}
		return b
	}, maxWire: 0.15},
	{name: "append", edit: func(old []byte, r *rand.Rand) []byte {
		add := make([]byte, 1<<20)
		fillRandom(r, add)
		return append(bytes.Clone(old), add...)
	}, maxWire: 1.3 / 24},
	{name: "first MiB removed", edit: func(old []byte, r *rand.Rand) []byte {
		return bytes.Clone(old[1<<20:])
	}, maxWire: 0.03},
	{name: "shares nothing", edit: func(old []byte, r *rand.Rand) []byte {
		b := make([]byte, len(old))
		fillRandom(r, b)
		return b
	}, minWire: 1, maxWire: 1.1},
}

func fillRandom(r *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(r.Uint32())
	}
}

// TestDeltaPush pushes a file, changes it as each case says, pushes it
// again with --force and checks the result and the bytes on the wire.
func TestDeltaPush(t *testing.T) {
	for _, tc := range deltaEdits {
		t.Run(tc.name, func(t *testing.T) {
			runDelta(t, Push, tc, Options{Force: true})
		})
	}
}

// runDelta moves an old version, then the new one, in direction dir, and
// checks the second transfer's bytes on the wire against tc.
func runDelta(t *testing.T, dir Direction, tc deltaEdit, opts Options) uint64 {
	t.Helper()
	ts := startServer(t, ServerConfig{}, nil)
	proxy := throttledProxy(t, ts, udpproxy.Config{})
	c := ts.dial(t, proxy.Addr().String())
	local, src, dst := transferDirs(t, dir, ts)
	r := rand.New(rand.NewPCG(1, uint64(len(tc.name))))
	old := make([]byte, deltaSize)
	fillRandom(r, old)
	name := "f.img"
	if err := os.WriteFile(filepath.Join(dst, name), old, 0o644); err != nil {
		t.Fatal(err)
	}
	newer := tc.edit(old, r)
	if err := os.WriteFile(filepath.Join(src, name), newer, 0o644); err != nil {
		t.Fatal(err)
	}
	before := wireBytes(proxy)
	f := onlyFile(t, "delta transfer", transferOf(dir, local, name, opts), c)
	if f.Err != nil {
		t.Fatalf("transfer: %v", f.Err)
	}
	moved := wireBytes(proxy) - before
	testutil.SameFile(t, filepath.Join(dst, name), newer)
	testutil.NoPartials(t, dst)
	frac := float64(moved) / float64(len(newer))
	t.Logf("%s: %d bytes on the wire for %d (%.2f%%)", tc.name, moved, len(newer), 100*frac)
	if frac > tc.maxWire {
		t.Errorf("%d bytes on the wire (%.2f%% of the file), want at most %.2f%%", moved, 100*frac, 100*tc.maxWire)
	}
	if frac < tc.minWire {
		t.Errorf("%d bytes on the wire (%.2f%% of the file), want at least %.2f%%", moved, 100*frac, 100*tc.minWire)
	}
	return moved
}

// wireBytes is every UDP payload byte the proxy delivered, both ways.
func wireBytes(p *udpproxy.Proxy) uint64 {
	s := p.Stats()
	return s.ToServer.Bytes + s.ToClient.Bytes
}

// TestDeltaWholeFile: -W sends a changed file whole, push and pull.
func TestDeltaWholeFile(t *testing.T) {
	tc := deltaEdits[0]
	tc.minWire, tc.maxWire = 1, 1.1
	for _, dir := range []Direction{Push, Pull} {
		t.Run(dir.String(), func(t *testing.T) {
			runDelta(t, dir, tc, Options{Force: true, WholeFile: true})
		})
	}
}

// TestDeltaPull is TestDeltaPush the other way.
func TestDeltaPull(t *testing.T) {
	for _, tc := range deltaEdits {
		t.Run(tc.name, func(t *testing.T) {
			runDelta(t, Pull, tc, Options{Force: true})
		})
	}
}

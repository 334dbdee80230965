package xfer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/session/internal/wire"
)

// smallDigestMarks makes digestMark 64 KiB for the test.
func smallDigestMarks(t *testing.T) {
	old := digestMark
	digestMark = 64 << 10
	t.Cleanup(func() { digestMark = old })
}

// digestOf reads data through a digester in reads of odd sizes.
func digestOf(t *testing.T, data []byte) *Digest {
	t.Helper()
	dg := newDigester(bytes.NewReader(data))
	buf := make([]byte, 7777)
	for {
		_, err := dg.Read(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return dg.finish()
}

// TestDigestStates: a digester's sum is the SHA-256 of what was read,
// and each kept state continues to the SHA-256 of any longer prefix.
func TestDigestStates(t *testing.T) {
	smallDigestMarks(t)
	data := randomBytes(21, int(5*digestMark+777))
	d := digestOf(t, data)
	if want := sha256.Sum256(data); !bytes.Equal(d.Sum, want[:]) || d.Size != uint64(len(data)) {
		t.Fatalf("digest of %d bytes %x, want %d bytes %x", d.Size, d.Sum, len(data), want)
	}
	if len(d.marks) != 5 {
		t.Errorf("%d states kept, want 5", len(d.marks))
	}
	for _, n := range []uint64{0, 1, digestMark - 1, digestMark, digestMark + 5, 3*digestMark + 100, uint64(len(data))} {
		h, k := d.stateAt(n)
		if k > n || n-k >= digestMark || k%digestMark != 0 {
			t.Errorf("state for %d bytes starts at %d, want the last multiple of %d at or below it", n, k, digestMark)
			continue
		}
		h.Write(data[k:n])
		if want := sha256.Sum256(data[:n]); !bytes.Equal(h.Sum(nil), want[:]) {
			t.Errorf("state at %d continued to %d bytes: wrong SHA-256", k, n)
		}
	}
}

// TestSenderDigest: a sender given its file's digest seals with it and
// checks the receiver's prefix from a kept state; a wrong digest fails
// the receiver's check of the whole file (no file is made of it), and a
// digest of another size is not used.
func TestSenderDigest(t *testing.T) {
	smallDigestMarks(t)
	size := int(3*digestMark + 1000)
	heldLen := 2*digestMark + 500
	tests := []struct {
		name   string
		digest func(d *Digest) *Digest
		want   ErrorCode // of the receiver
	}{
		{"digest", func(d *Digest) *Digest { return d }, wire.NoError},
		{"wrong digest", func(d *Digest) *Digest {
			bad := *d
			bad.Sum = bytes.Clone(d.Sum)
			bad.Sum[0] ^= 1
			return &bad
		}, wire.HashMismatch},
		{"digest of another size", func(d *Digest) *Digest {
			bad := *d
			bad.Size--
			bad.Sum = make([]byte, sha256.Size)
			return &bad
		}, wire.NoError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lb, ctx := newLoopback(t)
			_, data, f, meta := openTestSource(t, size)
			dir, root := testutil.TempRoot(t)
			const dest = "out.bin"
			interrupted(t, root, dest, meta, data, [][2]uint64{{0, heldLen}})
			scfg := SenderConfig{Path: "src.bin", File: f, Meta: meta, Digest: tc.digest(digestOf(t, data))}
			o := lb.run(ctx, 9, ReceiverConfig{Root: root, Path: dest, Meta: meta}, scfg)
			if o.offer.PrefixHash == nil {
				t.Fatal("no prefix hash offered")
			}
			if got := codeOfErr(o.recvErr); (tc.want == wire.NoError) != (o.recvErr == nil) || (o.recvErr != nil && got != tc.want) {
				t.Fatalf("receiver: got %v, want %v (sender %v)", o.recvErr, tc.want, o.sendErr)
			}
			if tc.want != wire.NoError {
				if exists(t, dir, dest) {
					t.Error("a file was made under a wrong digest")
				}
				return
			}
			testutil.SameFile(t, filepath.Join(dir, dest), data)
			if want := int64(uint64(size) - heldLen); o.sent != want {
				t.Errorf("sent %d bytes, want the %d not held", o.sent, want)
			}
		})
	}
}

// TestChunkerDigest: a chunker started with digest hashes the file it
// cuts; one started without does not.
func TestChunkerDigest(t *testing.T) {
	data := randomBytes(22, 3<<20+5)
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	ck := StartChunker(context.Background(), fh, uint64(len(data)), true)
	if _, err := ck.Wait(false); err != nil {
		t.Fatal(err)
	}
	if d, want := ck.Digest(), sha256.Sum256(data); d == nil || !bytes.Equal(d.Sum, want[:]) {
		t.Errorf("digest %+v, want the SHA-256 of the file", d)
	}
	ck = StartChunker(context.Background(), fh, uint64(len(data)), false)
	if _, err := ck.Wait(false); err != nil {
		t.Fatal(err)
	}
	if d := ck.Digest(); d != nil {
		t.Errorf("digest %+v from a chunker started without", d)
	}
}

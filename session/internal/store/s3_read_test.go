package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"testing"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// TestS3ReadSpans reads an object of 2.5 parts sequentially, in reads
// that straddle the boundaries of the GETs (one part each): every byte
// comes back in order, and the read at the end says io.EOF.
func TestS3ReadSpans(t *testing.T) {
	s, _ := testStore(t)
	data := randomBytes(t, 2*minPartSize+minPartSize/2)
	putObject(t, s, "p/f", string(data))
	src, _, err := s.OpenSource(context.Background(), "f")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var got []byte
	b := make([]byte, 3<<20+7) // not a divisor of the part size
	for off := int64(0); ; {
		n, err := src.ReadAt(b, off)
		got = append(got, b[:n]...)
		off += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes that differ from the object's %d", len(got), len(data))
	}
}

// TestS3ReplacedDuringSequentialRead replaces an object while a
// sequential read of it is inside its first GET. A store may serve a
// response in progress from the old version (versitygw does), but the
// read goes on with a new GET at the next part, pinned to the ETag seen
// at open: it fails there with SourceChanged, after delivering only
// bytes of the old version.
func TestS3ReplacedDuringSequentialRead(t *testing.T) {
	s, _ := testStore(t)
	size := 3 * minPartSize
	old := randomBytes(t, size)
	putObject(t, s, "p/f", string(old))
	src, _, err := s.OpenSource(context.Background(), "f")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	b := make([]byte, 1<<20)
	if _, err := src.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	putObject(t, s, "p/f", string(randomBytes(t, size)))
	off := int64(len(b))
	for {
		n, err := src.ReadAt(b, off)
		if !bytes.Equal(b[:n], old[off:off+int64(n)]) {
			t.Fatalf("read at %d: %d bytes that are not the old version's", off, n)
		}
		off += int64(n)
		if codeOf(err) == wire.SourceChanged {
			break
		}
		if err != nil {
			t.Fatalf("read at %d: got %v, want %v", off, err, wire.SourceChanged)
		}
	}
	// The GET opened after the replacement is the second one, at most.
	if off > 2*minPartSize {
		t.Errorf("the replacement was seen after %d bytes, want at most two parts (%d)", off, 2*minPartSize)
	}
}

// randomBytes returns n random bytes.
func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

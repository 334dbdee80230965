package xfer

import (
	"crypto/sha256"
	"encoding"
	"hash"
	"io"
)

// A sender of a delta reads its whole file once to chunk it; the
// whole-file SHA-256 its Seal carries is made in the same pass, in a
// goroutine of its own, rather than by reading the file again once the
// receiver has answered. The hash's state is kept every digestMark bytes
// so that the receiver's prefix hash is checked from the last mark before
// it rather than from offset 0.

// digestMark is the distance in bytes between two kept states of a
// Digest's hash: at most 64 MiB are hashed again to check a prefix, and a
// 10 GiB file keeps 160 states of about 110 bytes. (A variable only so
// that tests can make it small.)
var digestMark uint64 = 64 << 20

// Digest is the SHA-256 of a whole file, made while it was read for
// something else (the delta chunker), and the hash's state after every
// digestMark bytes.
type Digest struct {
	Sum   []byte // SHA-256 of the Size bytes read
	Size  uint64 // bytes hashed
	marks [][]byte
}

// stateAt returns a SHA-256 that has hashed the file's first k bytes,
// and k: the furthest kept state at or below n (k is 0 when none is).
func (d *Digest) stateAt(n uint64) (hash.Hash, uint64) {
	for i := min(n/digestMark, uint64(len(d.marks))); i > 0; i-- {
		h := sha256.New()
		if h.(encoding.BinaryUnmarshaler).UnmarshalBinary(d.marks[i-1]) == nil {
			return h, i * digestMark
		}
	}
	return sha256.New(), 0
}

// digester is a reader that hashes what it reads in a goroutine of its
// own (Digest): a copy of each read is handed over through a few
// buffers, so the reader waits only when the hash is behind by all of
// them. finish must be called once reading is over.
type digester struct {
	r    io.Reader
	full chan []byte // read, to hash
	free chan []byte // hashed, to fill again
	done chan struct{}
	d    Digest
}

// digestBuffers and digestBufSize are the buffers between the reader and
// the hash: 4 MiB.
const (
	digestBuffers = 4
	digestBufSize = 1 << 20
)

func newDigester(r io.Reader) *digester {
	dg := &digester{r: r, full: make(chan []byte, digestBuffers), free: make(chan []byte, digestBuffers), done: make(chan struct{})}
	for range digestBuffers {
		dg.free <- make([]byte, 0, digestBufSize)
	}
	go dg.run()
	return dg
}

func (dg *digester) Read(b []byte) (int, error) {
	n, err := dg.r.Read(b)
	for p := b[:n]; len(p) > 0; {
		buf := <-dg.free
		k := min(len(p), cap(buf))
		dg.full <- append(buf[:0], p[:k]...)
		p = p[k:]
	}
	return n, err
}

// run hashes the buffers handed over until finish; it is waited for by
// finish.
func (dg *digester) run() {
	defer close(dg.done)
	h := sha256.New()
	for buf := range dg.full {
		for p := buf; len(p) > 0; {
			// Up to the next mark, where the state is kept.
			k := min(uint64(len(p)), digestMark-dg.d.Size%digestMark)
			h.Write(p[:k])
			dg.d.Size += k
			p = p[k:]
			if dg.d.Size%digestMark == 0 {
				// A state that cannot be kept (never, for SHA-256)
				// is nil: stateAt passes over it.
				st, _ := h.(encoding.BinaryMarshaler).MarshalBinary()
				dg.d.marks = append(dg.d.marks, st)
			}
		}
		dg.free <- buf[:0]
	}
	dg.d.Sum = h.Sum(nil)
}

// finish ends the hashing and returns the digest of every byte read.
func (dg *digester) finish() *Digest {
	close(dg.full)
	<-dg.done
	return &dg.d
}

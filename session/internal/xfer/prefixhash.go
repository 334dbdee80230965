package xfer

import (
	"hash"
	"io"
	"sync"

	"github.com/cespare/xxhash/v2"
)

// NewFileHash returns a hash of protocol v3's file hash, the one every
// Seal and PrefixHash carries: XXH64 (github.com/cespare/xxhash/v2, 18
// GB/s a core on the bench machine against SHA-256's 1.7), whose Sum is
// wire.HashSize bytes, big-endian. Its state marshals
// (encoding.BinaryMarshaler), which the S3 store's resume relies on.
func NewFileHash() hash.Hash { return xxhash.New() }

// FileHash returns the file hash of b: wire.HashSize bytes.
func FileHash(b []byte) []byte {
	h := NewFileHash()
	h.Write(b)
	return h.Sum(nil)
}

// prefixHash is the file hash (NewFileHash) of a file's contiguous prefix, fed front to
// back by whoever holds the next bytes: the goroutine that reads them to
// send or writes them on receipt, when they are next in line, or else a
// catch-up reader that reads them back from the file. Each byte is hashed
// once; a file sent or received in order is never read twice.
type prefixHash struct {
	// mu guards the following fields (and the owner's fields it names).
	mu      sync.Mutex
	h       hash.Hash
	n       uint64        // bytes hashed
	changed chan struct{} // closed and replaced when n or the owner's state moves
}

func (p *prefixHash) init(n uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.h, p.n, p.changed = NewFileHash(), n, make(chan struct{})
}

// offer hashes b if it starts at the end of the prefix hashed so far, and
// reports whether it did.
func (p *prefixHash) offer(off uint64, b []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.offerLocked(off, b)
}

func (p *prefixHash) offerLocked(off uint64, b []byte) bool {
	if off != p.n || len(b) == 0 {
		return false
	}
	p.h.Write(b)
	p.n += uint64(len(b))
	p.signalLocked()
	return true
}

func (p *prefixHash) signalLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// sum returns the hash of the prefix hashed so far.
func (p *prefixHash) sum() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.h.Sum(nil)
}

// hashRange hashes the n bytes of f at off into h, reading through buf;
// fewer than n bytes there is io.ErrUnexpectedEOF.
func hashRange(f io.ReaderAt, off, n uint64, h io.Writer, buf []byte) error {
	got, err := io.CopyBuffer(h, io.NewSectionReader(f, int64(off), int64(n)), buf)
	if err == nil && uint64(got) < n {
		err = io.ErrUnexpectedEOF
	}
	return err
}

package xfer

import (
	"crypto/sha256"
	"hash"
	"io"
	"sync"
)

// prefixHash is the SHA-256 of a file's contiguous prefix, fed front to
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
	p.h, p.n, p.changed = sha256.New(), n, make(chan struct{})
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

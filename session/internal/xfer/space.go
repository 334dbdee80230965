package xfer

import (
	"os"
	"sync"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// Space admits incoming files against the free space of the file system
// they are written to, before a byte of them is sent (issue 13 class 9,
// issue 15). A file's .part is preallocated at its full size when it is
// opened (OpenReceiver), so what a file needs is its size less what its
// existing .part already holds on disk; and until that preallocation is
// done, or on a file system that cannot preallocate until the bytes are
// written, the statfs figure does not show it yet: admitted files are
// counted as reservations until their blocks are on disk. The rule: a file
// is admitted when
//
//	free (statfs, as an unprivileged user sees it) - reserved - MinFree >= need
//
// The count errs on the side of refusing: bytes written into a sparse
// .part are counted both by statfs and by its reservation until the file
// ends. One Space serves every root on one machine side (a server, or one
// pull); roots on different file systems then share one reservation count,
// which again only errs towards refusing.
//
// It is safe for concurrent use.
type Space struct {
	minFree uint64
	where   string // the disk, in error messages

	// mu guards the following fields.
	mu       sync.Mutex
	reserved uint64 // bytes admitted and not yet on disk
}

// NewSpace returns a Space that keeps minFree bytes free; where names the
// disk in errors ("the server's disk").
func NewSpace(minFree uint64, where string) *Space { return &Space{minFree: minFree, where: where} }

// Reservation is one admitted file's claim on a Space. Its methods are
// safe to call more than once; the zero of it (nil) is a no-op.
type Reservation struct {
	s     *Space
	root  *os.Root // where part is: the tree's root, or the .part's directory
	part  string
	dirs  *KnownDirs
	d     *Dir   // held from dirs until Release
	base  uint64 // bytes the .part held on disk at admission
	mu    sync.Mutex
	count uint64 // bytes still counted in s.reserved
}

// Admit reserves room for receiving a file of size bytes at p under root:
// its size less the blocks its .part already holds. It returns an *Error
// with code NoSpace, naming p and the bytes needed and available, when
// the file does not fit; a statfs failure admits the file (the
// preallocation will catch a full disk).
func (s *Space) Admit(root *os.Root, p string, size uint64) (*Reservation, error) {
	return s.AdmitIn(root, p, size, nil)
}

// AdmitIn is Admit through dirs (optional), which holds p's directory
// open: the .part is looked for there (one component, no path walk),
// and the free space is that of the directory's file system. The directory is held until Release.
func (s *Space) AdmitIn(root *os.Root, p string, size uint64, dirs *KnownDirs) (*Reservation, error) {
	r := &Reservation{s: s, root: root, part: PartName(p)}
	var fd *os.File
	if dirs != nil {
		dir, name := splitDir(p)
		if d, err := dirs.Open(root, dir, false); err == nil {
			r.root, r.part, r.dirs, r.d, fd = d.Root, PartName(name), dirs, d, d.fd
		}
	}
	base := allocatedAt(r.root, r.part)
	need := size - min(size, base)
	s.mu.Lock()
	defer s.mu.Unlock()
	if need > 0 {
		free, err := freeSpaceOf(r.root, fd)
		if err == nil {
			avail := free - min(free, s.reserved+s.minFree)
			if need > avail {
				r.dirs.Release(r.d)
				return nil, Errorf(wire.NoSpace, p, "needs %d more bytes, %s has %d to spare", need, s.where, avail)
			}
		}
	}
	s.reserved += need
	r.base, r.count = base, need
	return r, nil
}

// Reserved returns the bytes admitted and not yet on disk.
func (s *Space) Reserved() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reserved
}

// Landed stops counting what the .part has gained on disk since
// admission: call it once the receiver has preallocated the file.
func (r *Reservation) Landed() {
	if r == nil {
		return
	}
	now := allocatedAt(r.root, r.part)
	r.mu.Lock()
	defer r.mu.Unlock()
	grown := now - min(now, r.base)
	r.release(min(grown, r.count))
}

// Release ends the reservation: the file has ended or was never opened.
func (r *Reservation) Release() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.release(r.count)
	if d := r.d; d != nil {
		r.d = nil
		r.dirs.Release(d)
	}
}

// release drops n counted bytes; r.mu is held.
func (r *Reservation) release(n uint64) {
	r.count -= n
	r.s.mu.Lock()
	r.s.reserved -= n
	r.s.mu.Unlock()
}

// allocatedAt returns the bytes on disk of the regular file p under root,
// 0 when it is missing or not a regular file.
func allocatedAt(root *os.Root, p string) uint64 {
	fi, err := root.Lstat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return 0
	}
	return allocated(fi)
}

package xfer

import (
	"os"
	"path"
	"sync"
	"sync/atomic"
)

// maxKnownDirs bounds the directories a KnownDirs keeps open, the most
// recently opened: each holds two descriptors (the sub-root and its *at
// handle), so a session keeps at most 2,048, far below the descriptor
// limit Go raises to at start, whatever the tree (the Linux kernel's has
// 5,760 directories).
const maxKnownDirs = 1024

// DirGen counts the changes to a tree's directories (a removal, a
// rename) that every KnownDirs sharing it must see: a KnownDirs whose
// Gen has moved since it last looked forgets every directory it holds.
// One server shares one DirGen between its sessions, so that a rename by
// one client is never followed by another's push into the directory
// under its old name. The zero value is ready to use.
type DirGen struct{ n atomic.Uint64 }

// KnownDirs keeps the directories of a destination tree open for a
// session, so that a tree of small files costs one path walk per
// directory rather than several per file (os.Root resolves every path
// one component at a time, an openat and a close each). Each is a
// sub-root of the tree's os.Root (os.Root.OpenRoot), so what is written
// through it stays confined: a directory swapped for a symlink after it
// was opened is not followed, the handle keeps naming the directory that
// was opened. A directory removed or renamed by a request of this server
// is forgotten (Forget, or another session's through Gen); one moved by
// another program while the session writes into it keeps receiving,
// under its new name.
//
// It is safe for concurrent use; the zero value is empty, and a nil
// *KnownDirs keeps nothing open (Open opens, Release closes).
type KnownDirs struct {
	Gen *DirGen // optional: changes made by other sessions

	// mu guards the following fields.
	mu    sync.Mutex
	seen  uint64          // Gen's count when dirs was last emptied
	dirs  map[string]*Dir // by clean path under the tree's root
	order []string        // the keys of dirs, oldest first
	// top is the tree's root directory open for renamePart's *at calls,
	// opened from topRoot on first use (nil if that failed).
	top     *os.File
	topRoot *os.Root
}

// Dir is an open directory of a destination tree, held by its users
// until they Release it.
type Dir struct {
	Root *os.Root // the directory, as a sub-root of the tree's root
	// fd is the same directory open for the *at system calls of the
	// small-file path (O_TMPFILE, linkat); nil where there are none.
	fd *os.File

	// KnownDirs.mu guards the following fields.
	refs int
	gone bool // out of the map: closed when refs drops to 0
}

// Open returns the directory dir (a clean path under root, "." for root
// itself), creating it and its parents first when create is set (a path
// element that is not a directory is wire.NotDirectory, see MkdirAll).
// The caller must Release it. The error is an *Error.
func (k *KnownDirs) Open(root *os.Root, dir string, create bool) (*Dir, error) {
	if k != nil {
		k.mu.Lock()
		if g := k.Gen; g != nil && g.n.Load() != k.seen {
			k.forgetLocked()
			k.seen = g.n.Load()
		}
		if d, ok := k.dirs[dir]; ok {
			d.refs++
			k.mu.Unlock()
			return d, nil
		}
		k.mu.Unlock()
	}
	if create && dir != "." {
		if err := MkdirAll(root, dir, 0o755); err != nil {
			return nil, err
		}
	}
	sub, err := root.OpenRoot(dir)
	if err != nil {
		return nil, AsError(err, dir)
	}
	d := &Dir{Root: sub, refs: 1, gone: true}
	if k == nil {
		return d, nil
	}
	if fd, err := sub.Open("."); err == nil {
		d.fd = fd
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if old, ok := k.dirs[dir]; ok {
		// Opened meanwhile by another file of the directory.
		old.refs++
		d.close()
		return old, nil
	}
	if k.dirs == nil {
		k.dirs = make(map[string]*Dir)
	}
	if len(k.dirs) >= maxKnownDirs {
		// The oldest goes (a tree is walked a directory at a time);
		// if still in use, it closes when released.
		old := k.dirs[k.order[0]]
		delete(k.dirs, k.order[0])
		k.order = k.order[1:]
		old.gone = true
		if old.refs == 0 {
			old.close()
		}
	}
	d.gone = false
	k.dirs[dir] = d
	k.order = append(k.order, dir)
	return d, nil
}

// Release gives back a directory Open returned; nil is ignored.
func (k *KnownDirs) Release(d *Dir) {
	if d == nil {
		return
	}
	if k != nil {
		k.mu.Lock()
		defer k.mu.Unlock()
	}
	d.refs--
	if d.gone && d.refs == 0 {
		d.close()
	}
}

// Forget empties k, here and in every KnownDirs sharing its Gen: a
// directory it holds may have been removed or renamed. Directories in
// use stay open until released.
func (k *KnownDirs) Forget() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.Gen != nil {
		k.seen = k.Gen.n.Add(1)
	}
	k.forgetLocked()
}

// Close closes every directory k holds (those in use once released); k
// can be used again afterwards.
func (k *KnownDirs) Close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.forgetLocked()
	if k.top != nil {
		k.top.Close()
	}
	k.top, k.topRoot = nil, nil
}

// topOf returns root's own directory, open for the *at calls of
// renamePart, opened once for k (nil if it cannot be opened, or if k
// already holds that of another root). It stays open until Close, so
// the caller must not close it.
func (k *KnownDirs) topOf(root *os.Root) *os.File {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.topRoot == nil {
		k.topRoot = root
		if f, err := root.Open("."); err == nil {
			k.top = f
		}
	}
	if k.topRoot != root {
		return nil
	}
	return k.top
}

func (k *KnownDirs) forgetLocked() {
	for name, d := range k.dirs {
		d.gone = true
		if d.refs == 0 {
			d.close()
		}
		delete(k.dirs, name)
	}
	k.order = nil
}

func (d *Dir) close() {
	if d.fd != nil {
		d.fd.Close()
	}
	d.Root.Close()
}

// LoadPrior is LoadRecord of destination p under root, through dirs
// (optional) when it holds p's directory: a directory that held no side
// file when it was opened, and kept none since, has no record to read.
func LoadPrior(root *os.Root, p string, dirs *KnownDirs) *PriorRecord {
	dir, name, release := dirs.parentOf(root, p)
	defer release()
	prior := &PriorRecord{}
	prior.Record, prior.Absent = LoadRecord(dir, name)
	return prior
}

// HashPrefixIn is Record.HashPrefix of rec, the record of destination p
// under root, reading its .part (through dirs, optional, as LoadPrior):
// for a client pull, whose Get offers the record's ranges before the
// receiver opens the .part. It does nothing when the .part cannot be
// opened.
func HashPrefixIn(root *os.Root, p string, dirs *KnownDirs, rec *Record) {
	dir, name, release := dirs.parentOf(root, p)
	defer release()
	if f, err := dir.Open(PartName(name)); err == nil {
		rec.HashPrefix(f)
		f.Close()
	}
}

// parentOf returns the directory of p under root, from k (which may be
// nil) when it holds it, and p's name there; else root and p itself.
// release gives the directory back to k.
func (k *KnownDirs) parentOf(root *os.Root, p string) (dir *os.Root, name string, release func()) {
	if k != nil {
		sub, base := splitDir(p)
		if d, err := k.Open(root, sub, false); err == nil {
			return d.Root, base, func() { k.Release(d) }
		}
	}
	return root, p, func() {}
}

// splitDir is the directory and the name of p, a clean path.
func splitDir(p string) (dir, name string) {
	dir, name = path.Split(p)
	if dir == "" {
		return ".", name
	}
	return dir[:len(dir)-1], name
}

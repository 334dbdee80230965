package xfer

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"sync"
	"time"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// ChunkSize is the read/write unit of the data path, in bytes: big enough
// that syscalls and stream writes are amortised, small enough that a
// cancelled transfer stops promptly.
const ChunkSize = 256 << 10

var chunkPool = sync.Pool{New: func() any { b := make([]byte, ChunkSize); return &b }}

// lazyChunk is a pooled chunk taken on first use, for readers that often
// have nothing to read.
type lazyChunk struct{ b []byte }

func (c *lazyChunk) get() []byte {
	if c.b == nil {
		c.b = *chunkPool.Get().(*[]byte)
	}
	return c.b
}

func (c *lazyChunk) release() {
	if b := c.b; b != nil {
		c.b = nil
		chunkPool.Put(&b) // a pointer to its own header, not to c.b
	}
}

// FileMeta describes the source file of a transfer.
type FileMeta struct {
	Size  uint64      // bytes
	Mode  fs.FileMode // permission bits
	MTime time.Time
}

// MetaOf describes fi.
func MetaOf(fi fs.FileInfo) FileMeta {
	return FileMeta{Size: uint64(fi.Size()), Mode: fi.Mode().Perm(), MTime: fi.ModTime()}
}

// DestDecision is the outcome of checking a destination before receiving.
type DestDecision int

// The DestDecision values.
const (
	DestWrite    DestDecision = iota // receive the file
	DestUpToDate                     // identical file already there: send nothing
)

// CheckDest decides what to do with destination p under root for a file
// described by m. A destination counts as up to date when it is a regular
// file of the same size and modification time (rsync's quick check; qxfer
// sets the mtime of every file it receives). Any other existing file is
// refused with wire.Exists unless force is set; directories and other
// non-regular files are always refused with wire.NotRegular. The parent
// directory is created, unless dirs (optional) remembers it.
func CheckDest(root *os.Root, p string, m FileMeta, force bool, dirs *KnownDirs) (DestDecision, error) {
	if p == "." {
		return 0, Errorf(wire.NotRegular, p, "the root is a directory")
	}
	if dir := path.Dir(p); dir != "." && !dirs.has(dir) {
		if err := MkdirAll(root, dir, 0o755); err != nil {
			return 0, err
		}
		dirs.add(dir)
	}
	fi, err := root.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return DestWrite, nil
	case err != nil:
		return 0, AsError(err, p)
	case !fi.Mode().IsRegular():
		return 0, Errorf(wire.NotRegular, p, "destination exists and is not a regular file")
	case uint64(fi.Size()) == m.Size && fi.ModTime().Equal(m.MTime):
		return DestUpToDate, nil
	case !force:
		return 0, Errorf(wire.Exists, p, "the destination already exists and differs (use --force to overwrite)")
	}
	return DestWrite, nil
}

// maxKnownDirs bounds the directories a KnownDirs remembers.
const maxKnownDirs = 4096

// KnownDirs remembers the directories (up to maxKnownDirs) that a caller
// of CheckDest has created or found, so that a tree of small files costs
// one MkdirAll per directory rather than one per file. It is safe for
// concurrent use; the zero value is empty, and a nil *KnownDirs
// remembers nothing.
type KnownDirs struct {
	mu   sync.Mutex
	dirs map[string]bool
}

func (k *KnownDirs) has(dir string) bool {
	if k == nil {
		return false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.dirs[dir]
}

// Forget empties k: a directory it remembers may have been removed or
// renamed.
func (k *KnownDirs) Forget() {
	k.mu.Lock()
	defer k.mu.Unlock()
	clear(k.dirs)
}

func (k *KnownDirs) add(dir string) {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dirs == nil {
		k.dirs = make(map[string]bool)
	}
	if len(k.dirs) < maxKnownDirs {
		k.dirs[dir] = true
	}
}

// MkdirAll creates dir and its parents under root. A path element that
// exists but is not a directory is reported as wire.NotDirectory (os.Root
// reports it as "file exists", which would suggest --force could help).
func MkdirAll(root *os.Root, dir string, perm fs.FileMode) error {
	err := root.MkdirAll(dir, perm)
	if err == nil {
		return nil
	}
	if errors.Is(err, fs.ErrExist) {
		return Errorf(wire.NotDirectory, dir, "a path element is not a directory")
	}
	return AsError(err, dir)
}

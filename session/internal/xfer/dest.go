package xfer

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"time"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// ChunkSize is the read/write unit of the data path, in bytes: big enough
// that syscalls and stream writes are amortised, small enough that a
// cancelled transfer stops promptly.
const ChunkSize = 256 << 10

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
// directory is created; dirs (optional) keeps it open for the session, so
// the next file of the same directory walks no path.
func CheckDest(root *os.Root, p string, m FileMeta, force bool, dirs *KnownDirs) (DestDecision, error) {
	if p == "." {
		return 0, Errorf(wire.NotRegular, p, "the root is a directory")
	}
	var fi fs.FileInfo
	var err error
	if dirs != nil {
		dir, name := splitDir(p)
		d, derr := dirs.Open(root, dir, true)
		if derr != nil {
			return 0, derr
		}
		fi, err = d.Root.Lstat(name)
		dirs.Release(d)
	} else {
		if dir := path.Dir(p); dir != "." {
			if err := MkdirAll(root, dir, 0o755); err != nil {
				return 0, err
			}
		}
		fi, err = root.Lstat(p)
	}
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

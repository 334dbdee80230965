package xfer

import (
	"bytes"
	"io"
	"io/fs"
	"os"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// SourceFS is where sources are opened: an *os.Root on a server, LocalFS
// on a client.
type SourceFS interface {
	Stat(name string) (fs.FileInfo, error)
	OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error)
}

// LocalFS is the SourceFS of local paths, used as given.
type LocalFS struct{}

// Stat is os.Stat.
func (LocalFS) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

// OpenFile is os.OpenFile.
func (LocalFS) OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag, perm)
}

// Source is an open source file: an *os.File, or the snapshot of a file
// whose size the file system does not know in advance.
type Source interface {
	io.ReaderAt
	// Stat describes the source now; the sender compares it with the
	// FileMeta the transfer began with.
	Stat() (fs.FileInfo, error)
	Close() error
}

// SnapshotMax is the most a source whose stat size is 0 may hold, in
// bytes (4 MiB): such a file (most of /proc and /sys) is read to its end
// when it is opened, and that content is sent. The largest files of
// /proc on a typical system (kallsyms aside) are far below it.
const SnapshotMax = 4 << 20

// OpenSource opens a file of fsys for sending and stats it; display names
// the file in errors. A source that is not a regular file (a directory, a
// FIFO, a socket, a device) fails with wire.NotRegular before anything can
// block: its type is checked with a stat before it is opened, and the open
// itself does not block (O_NONBLOCK, so a FIFO put in its place meanwhile
// opens at once) and is checked again on the open file. Opening a FIFO
// for reading would otherwise wait for a writer, with no way to cancel it.
//
// A regular file whose stat size is 0 is read to its end at once: files
// of /proc say 0 and hold more, and sending what the stat said sent an
// empty file. What it holds (nothing, for a true empty file) is sent,
// with its mtime; one holding more than SnapshotMax bytes fails with
// wire.LimitExceeded. Any other file is sent as its size says, and a
// change of that size while it is read fails the file with
// wire.SourceChanged (see Sender).
func OpenSource(fsys SourceFS, name, display string) (Source, FileMeta, error) {
	fi, err := fsys.Stat(name)
	if err != nil {
		return nil, FileMeta{}, AsError(err, display)
	}
	if err := CheckRegular(fi, display); err != nil {
		return nil, FileMeta{}, err
	}
	return OpenWalked(fsys, name, display)
}

// OpenWalked is OpenSource of a file a tree walk has already seen as a
// regular file (its stat passed CheckRegular): that stat stands for the
// one OpenSource makes before the open, one system call less per file
// of a tree (issue 17). What is opened is still checked on the open file
// (wire.NotRegular), and the open still cannot block (O_NONBLOCK), so a
// FIFO put in the file's place since the walk is refused as with
// OpenSource.
func OpenWalked(fsys SourceFS, name, display string) (Source, FileMeta, error) {
	f, err := fsys.OpenFile(name, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		return nil, FileMeta{}, AsError(err, display)
	}
	return checkSource(f, display)
}

// checkSource checks that f, just opened, is a regular file (closing it
// otherwise) and returns it as the source, read whole at once if its stat
// size is 0 (see OpenSource).
func checkSource(f *os.File, display string) (Source, FileMeta, error) {
	fi, err := f.Stat()
	if err == nil {
		err = CheckRegular(fi, display)
	}
	if err != nil {
		f.Close()
		return nil, FileMeta{}, AsError(err, display)
	}
	if fi.Size() == 0 {
		return snapshot(f, fi, display)
	}
	return f, MetaOf(fi), nil
}

// snapshot reads f, whose stat size is 0, to its end, closes it, and
// returns its content as the source.
func snapshot(f *os.File, fi fs.FileInfo, display string) (Source, FileMeta, error) {
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, SnapshotMax+1))
	if err != nil {
		return nil, FileMeta{}, AsError(err, display)
	}
	if len(b) > SnapshotMax {
		return nil, FileMeta{}, Errorf(wire.LimitExceeded, display, "its size is not known in advance (stat says 0 bytes) and it holds more than %d bytes", SnapshotMax)
	}
	info := snapshotInfo{FileInfo: fi, size: int64(len(b))}
	return &snapshotSource{Reader: bytes.NewReader(b), info: info}, MetaOf(info), nil
}

// snapshotSource is the content of a file read at open.
type snapshotSource struct {
	*bytes.Reader
	info snapshotInfo
}

func (s *snapshotSource) Stat() (fs.FileInfo, error) { return s.info, nil }
func (s *snapshotSource) Close() error               { return nil }

// snapshotInfo is a file's stat with the size of its snapshot.
type snapshotInfo struct {
	fs.FileInfo
	size int64
}

func (i snapshotInfo) Size() int64 { return i.size }

// CheckRegular refuses anything but a regular file with wire.NotRegular,
// naming what it is.
func CheckRegular(fi fs.FileInfo, display string) error {
	m := fi.Mode()
	switch {
	case m.IsRegular():
		return nil
	case m.IsDir():
		return Errorf(wire.NotRegular, display, "a directory")
	case m&fs.ModeNamedPipe != 0:
		return Errorf(wire.NotRegular, display, "a named pipe (FIFO)")
	case m&fs.ModeSocket != 0:
		return Errorf(wire.NotRegular, display, "a socket")
	case m&fs.ModeDevice != 0:
		return Errorf(wire.NotRegular, display, "a device")
	case m&fs.ModeSymlink != 0:
		return Errorf(wire.NotRegular, display, "a symlink")
	}
	return Errorf(wire.NotRegular, display, "%s", m.Type())
}

// OpenDir opens the directory dir under root for reading without ever
// blocking: a FIFO put in its place after a stat opens at once (and is
// then refused with wire.NotDirectory).
func OpenDir(root *os.Root, dir string) (*os.File, error) {
	f, err := root.OpenFile(dir, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		return nil, AsError(err, dir)
	}
	if fi, err := f.Stat(); err != nil || !fi.IsDir() {
		f.Close()
		if err != nil {
			return nil, AsError(err, dir)
		}
		return nil, Errorf(wire.NotDirectory, dir, "not a directory")
	}
	return f, nil
}

package xfer

import (
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

// OpenSource opens a file of fsys for sending and stats it; display names
// the file in errors. A source that is not a regular file (a directory, a
// FIFO, a socket, a device) fails with wire.NotRegular before anything can
// block: its type is checked with a stat before it is opened, and the open
// itself does not block (O_NONBLOCK, so a FIFO put in its place meanwhile
// opens at once) and is checked again on the open file. Opening a FIFO
// for reading would otherwise wait for a writer, with no way to cancel it.
func OpenSource(fsys SourceFS, name, display string) (*os.File, FileMeta, error) {
	fi, err := fsys.Stat(name)
	if err != nil {
		return nil, FileMeta{}, AsError(err, display)
	}
	if err := CheckRegular(fi, display); err != nil {
		return nil, FileMeta{}, err
	}
	f, err := fsys.OpenFile(name, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		return nil, FileMeta{}, AsError(err, display)
	}
	fi, err = f.Stat()
	if err == nil {
		err = CheckRegular(fi, display)
	}
	if err != nil {
		f.Close()
		return nil, FileMeta{}, AsError(err, display)
	}
	return f, MetaOf(fi), nil
}

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
	}
	return Errorf(wire.NotRegular, display, "%s", m.Type())
}

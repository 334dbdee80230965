package store

import (
	"context"
	"io/fs"
	"os"

	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// POSIX is the store of a directory: every access goes through an
// os.Root, files are written as a .part with a resume record beside it and
// renamed into place (xfer.Receiver). It adds nothing to the engine's
// behaviour; it only puts it behind Store.
type POSIX struct {
	Root *os.Root
	// Dirs remembers the directories CheckDest made (optional).
	Dirs *xfer.KnownDirs
}

var _ Store = (*POSIX)(nil)

// Stat is os.Root.Stat (links followed inside the root).
func (s *POSIX) Stat(_ context.Context, p string) (fs.FileInfo, error) {
	fi, err := s.Root.Stat(p)
	if err != nil {
		return nil, xfer.AsError(err, p)
	}
	return fi, nil
}

// List reads directory p in pages of 256 entries. Entries whose stat
// fails (removed meanwhile) are left out.
func (s *POSIX) List(_ context.Context, p string, limit int, fn func([]fs.FileInfo) error) error {
	d, err := xfer.OpenDir(s.Root, p)
	if err != nil {
		return err
	}
	defer d.Close()
	total := 0
	for {
		des, rerr := d.ReadDir(256)
		total += len(des)
		if total > limit {
			return xfer.Errorf(wire.LimitExceeded, p, "directory has more than %d entries", limit)
		}
		page := make([]fs.FileInfo, 0, len(des))
		for _, de := range des {
			if fi, err := de.Info(); err == nil {
				page = append(page, fi)
			}
		}
		if len(page) > 0 {
			if err := fn(page); err != nil {
				return err
			}
		}
		if rerr != nil {
			return nil
		}
	}
}

// Mkdir is xfer.MkdirAll.
func (s *POSIX) Mkdir(_ context.Context, p string, perm fs.FileMode) error {
	return xfer.MkdirAll(s.Root, p, perm)
}

// OpenSource is xfer.OpenSourceIn (xfer.OpenSource, with p found in one
// confined lookup from the root Dirs holds open): the sender detects a
// change of the file by its size and mtime.
func (s *POSIX) OpenSource(_ context.Context, p string) (xfer.Source, xfer.FileMeta, error) {
	return xfer.OpenSourceIn(s.Root, s.Dirs, p)
}

// CheckDest is xfer.CheckDest; it creates the parent directory.
func (s *POSIX) CheckDest(_ context.Context, p string, meta xfer.FileMeta, force bool) (xfer.DestDecision, error) {
	return xfer.CheckDest(s.Root, p, meta, force, s.Dirs)
}

// OpenWriter is xfer.OpenReceiver.
func (s *POSIX) OpenWriter(_ context.Context, cfg WriterConfig) (Writer, xfer.Offer, error) {
	rc, offer, err := xfer.OpenReceiver(xfer.ReceiverConfig{
		Root: s.Root, Path: cfg.Path, Meta: cfg.Meta, NoResume: cfg.NoResume,
		Ack: cfg.Ack, Progress: cfg.Progress,
	})
	if err != nil {
		return nil, offer, err
	}
	return rc, offer, nil
}

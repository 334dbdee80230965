package session

import (
	"context"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

func (ss *serverSession) stat(ctx context.Context, m *wire.Stat) error {
	p, err := ss.allow(opList, m.Path)
	if err != nil {
		return err
	}
	fi, err := ss.store.Stat(ctx, p)
	if err != nil {
		return err
	}
	return ss.cmd.send(&wire.StatResult{ID: m.ID, Entry: entryOf(baseName(p), fi)})
}

func (ss *serverSession) mkdir(ctx context.Context, m *wire.Mkdir) error {
	p, err := ss.allow(opMkdir, m.Path)
	if err != nil {
		return err
	}
	if p != "." {
		if err := ss.store.Mkdir(ctx, p, fs.FileMode(m.Mode).Perm()|0o700); err != nil {
			return err
		}
	}
	return ss.cmd.send(&wire.OK{ID: m.ID})
}

// serverFeatures are the optional features (wire.Features) this server
// has.
const serverFeatures = wire.FeatureListPacked

// listAsync runs the List (or, packed, ListPacked) request id of path
// in a goroutine of the session, at most ss.listing at once.
func (ss *serverSession) listAsync(ctx context.Context, id uint64, path string, packed bool) error {
	return ss.request(id, func() error {
		select {
		case ss.listing <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		ss.wg.Go(func() {
			defer func() { <-ss.listing }()
			ss.reply(id, ss.list(ctx, &wire.List{ID: id, Path: path}, packed))
		})
		return nil
	})
}

// list sends a directory listing in frames of bounded size, or a single
// entry when the path is not a directory. packed (a ListPacked request)
// sends ListPackedResult frames, with the names of each frame in order
// (so that they share prefixes); the single entry of a file and a
// store's listing go as ListResult frames, which a ListPacked's client
// takes too.
func (ss *serverSession) list(ctx context.Context, m *wire.List, packed bool) error {
	p, err := ss.allow(opList, m.Path)
	if err != nil {
		return err
	}
	if ss.root == nil {
		return ss.listStore(ctx, p, m.ID)
	}
	root := ss.root
	var d *os.File
	if xfer.DirWithoutLinks(root, &ss.dirs, p) {
		// A directory with no link on its path: no loop to check, and
		// its stat is that of the open directory.
		if d, err = xfer.OpenDir(root, p); err != nil {
			return err
		}
	} else {
		fi, err := root.Stat(p)
		if err != nil {
			return xfer.AsError(err, p)
		}
		if !fi.IsDir() {
			return ss.cmd.send(&wire.ListResult{ID: m.ID, Last: true, Entries: []wire.Entry{entryOf(baseName(p), fi)}})
		}
		if err := ss.checkLoop(p, fi); err != nil {
			return err
		}
		if d, err = xfer.OpenDir(root, p); err != nil {
			return err
		}
	}
	defer d.Close()
	out := ss.newListSender(m.ID)
	out.packed = packed
	total := 0
	for {
		des, rerr := d.ReadDir(256)
		if packed {
			slices.SortFunc(des, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
		}
		for _, de := range des {
			total++
			if total > ss.srv.cfg.MaxListEntries {
				return xfer.Errorf(CodeLimitExceeded, p, "directory has more than %d entries", ss.srv.cfg.MaxListEntries)
			}
			e, ok := ss.entryFor(p, de)
			if !ok {
				continue
			}
			if err := out.add(e); err != nil {
				return err
			}
		}
		if rerr != nil {
			break
		}
	}
	return out.end()
}

// listSender sends a listing's entries as ListResult frames (or, packed,
// ListPackedResult frames) of at most wire.MaxFrameSize bytes, the last
// one marked Last.
type listSender struct {
	ss     *serverSession
	res    *wire.ListResult
	size   int // bytes of res.Entries
	packed bool
}

func (ss *serverSession) newListSender(id uint64) *listSender {
	return &listSender{ss: ss, res: &wire.ListResult{ID: id}}
}

// add queues e, first sending the entries queued when e would not fit.
func (l *listSender) add(e wire.Entry) error {
	const budget = wire.MaxFrameSize - 1024
	n := e.Len() + 2 // a packed entry is at most 2 bytes longer (wire.ListPackedResult)
	if l.size+n > budget {
		if err := l.send(); err != nil {
			return err
		}
		l.res.Entries, l.size = l.res.Entries[:0], 0
	}
	l.res.Entries = append(l.res.Entries, e)
	l.size += n
	return nil
}

// end sends the last frame.
func (l *listSender) end() error {
	l.res.Last = true
	return l.send()
}

func (l *listSender) send() error {
	if l.packed {
		return l.ss.cmd.send(&wire.ListPackedResult{ID: l.res.ID, Last: l.res.Last, Entries: l.res.Entries})
	}
	return l.ss.cmd.send(l.res)
}

// entryFor describes a directory entry. Symlinks that resolve inside the
// client's root are described by their target, with wire.ModeLinked, so
// that a client applies its link policy (README, "Names, duplicates,
// links"); others (dangling, looping, absolute, leading out of the
// client's root) are listed as symlinks of size 0, so that not even the
// length of a target outside the client's world shows.
func (ss *serverSession) entryFor(dir string, de fs.DirEntry) (wire.Entry, bool) {
	fi, err := de.Info()
	if err != nil {
		return wire.Entry{}, false
	}
	linked := false
	if fi.Mode()&fs.ModeSymlink != 0 {
		if t, err := ss.root.Stat(joinPath(dir, de.Name())); err == nil {
			fi, linked = t, true
		}
	}
	e := entryOf(de.Name(), fi)
	if linked {
		e.Mode |= wire.ModeLinked
	}
	return e, true
}

// checkLoop refuses, with CodeSymlinkLoop, to list a directory p (fi)
// that is also one of the directories on its own path, reached again
// through a symbolic link (x -> . lists as x, x/x, x/x/x...): a client
// that follows links to directories would otherwise copy a tree into
// itself until a depth limit stopped it.
func (ss *serverSession) checkLoop(p string, fi fs.FileInfo) error {
	for q := path.Dir(p); p != "."; q = path.Dir(q) {
		if a, err := ss.root.Stat(q); err == nil && os.SameFile(a, fi) {
			return xfer.Errorf(CodeSymlinkLoop, p, "a symlink to a directory that holds it; not followed")
		}
		if q == "." {
			break
		}
	}
	return nil
}

func entryOf(name string, fi fs.FileInfo) wire.Entry {
	k := wire.EntryKind(KindOf(fi.Mode()))
	size := uint64(max(fi.Size(), 0))
	if k == wire.KindSymlink {
		size = 0 // the length of the target's path
	}
	return wire.Entry{Name: name, Kind: k, Size: size, Mode: uint32(fi.Mode().Perm()), MTime: fi.ModTime()}
}

func baseName(p string) string {
	if p == "." {
		return "."
	}
	return path.Base(p)
}

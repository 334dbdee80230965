package session

import (
	"context"
	"fmt"
	"io/fs"
	"time"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// Entry describes a remote file or directory.
type Entry struct {
	Name  string
	Kind  EntryKind
	Size  int64
	Mode  fs.FileMode
	MTime time.Time
	// Linked says the entry is a symbolic link that the server followed:
	// the other fields describe its target.
	Linked bool
}

// EntryKind is the type of a remote entry.
type EntryKind uint8

// Entry kinds.
const (
	KindFile    = EntryKind(wire.KindFile)
	KindDir     = EntryKind(wire.KindDir)
	KindSymlink = EntryKind(wire.KindSymlink)
	KindOther   = EntryKind(wire.KindOther)
)

// IsDir reports whether e is a directory.
func (e Entry) IsDir() bool { return e.Kind == KindDir }

func entryFromWire(w wire.Entry) Entry {
	return Entry{Name: w.Name, Kind: EntryKind(w.Kind), Size: int64(min(w.Size, 1<<62)), Mode: fs.FileMode(w.Mode).Perm(), MTime: w.MTime, Linked: w.Mode&wire.ModeLinked != 0}
}

// List lists a remote directory (or describes a single file).
func (c *clientConn) List(ctx context.Context, p string) ([]Entry, error) {
	id, w, err := c.request(func(id uint64) wire.Message { return &wire.List{ID: id, Path: p} })
	if err != nil {
		return nil, err
	}
	defer c.done(id, w)
	var out []Entry
	for {
		msg, err := c.await(ctx, w)
		if err != nil {
			return nil, err
		}
		switch m := msg.(type) {
		case *wire.ListResult:
			for _, e := range m.Entries {
				out = append(out, entryFromWire(e))
			}
			if m.Last {
				return out, nil
			}
		case *wire.Reject:
			return nil, rejected(m, p)
		default:
			return nil, fmt.Errorf("list %s: unexpected %s", p, msg.Type())
		}
	}
}

// Stat describes one remote path.
func (c *clientConn) Stat(ctx context.Context, p string) (Entry, error) {
	m, err := roundTrip[*wire.StatResult](ctx, c, p, func(id uint64) wire.Message { return &wire.Stat{ID: id, Path: p} })
	if err != nil {
		return Entry{}, err
	}
	return entryFromWire(m.Entry), nil
}

// Mkdir creates a remote directory and its parents.
func (c *clientConn) Mkdir(ctx context.Context, p string) error {
	_, err := roundTrip[*wire.OK](ctx, c, p, func(id uint64) wire.Message { return &wire.Mkdir{ID: id, Path: p, Mode: 0o755} })
	return err
}

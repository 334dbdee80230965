package session

import (
	"context"
	"fmt"
	"io/fs"
	"sync"
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

// List lists a remote directory (or describes a single file): packed
// (wire.ListPacked) when the server has the feature.
func (c *clientConn) List(ctx context.Context, p string) ([]Entry, error) {
	packed, err := c.has(ctx, wire.FeatureListPacked)
	if err != nil {
		return nil, err
	}
	id, w, err := c.request(func(id uint64) wire.Message {
		if packed {
			return &wire.ListPacked{ID: id, Path: p}
		}
		return &wire.List{ID: id, Path: p}
	})
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
		case *wire.ListPackedResult:
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

// listLevel lists the remote directories dirs concurrently, at most
// listConcurrency at a time (the requests are pipelined on the command
// channel, so a level of a tree costs about one round trip). ents[i] and
// errs[i] are dirs[i]'s.
func (c *clientConn) listLevel(ctx context.Context, dirs []string) (ents [][]Entry, errs []error) {
	ents, errs = make([][]Entry, len(dirs)), make([]error, len(dirs))
	sem := make(chan struct{}, listConcurrency)
	var wg sync.WaitGroup
	for i, d := range dirs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ents[i], errs[i] = c.List(ctx, d)
		})
	}
	wg.Wait()
	return ents, errs
}

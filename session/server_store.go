package session

import (
	"context"
	"io/fs"
	"os"
	"time"

	"github.com/qxfer/qxfer/certs"
	"github.com/qxfer/qxfer/session/internal/store"
	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// IsS3Root reports whether a ServerConfig.Root names an S3 bucket
// (s3://BUCKET/PREFIX) rather than a directory.
func IsS3Root(root string) bool { return store.IsS3URL(root) }

// openS3Root connects to the bucket of an s3:// root (nil, nil for a
// directory root). Credentials come from the standard AWS environment
// variables and files only.
func openS3Root(cfg ServerConfig) (*store.S3, error) {
	if !store.IsS3URL(cfg.Root) {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return store.OpenS3(ctx, store.S3Config{
		URL: cfg.Root, Endpoint: cfg.S3Endpoint, Region: cfg.S3Region,
		PartSize: cfg.s3PartSize, LeaseTTL: cfg.S3LeaseTTL,
	})
}

// storeFor is the Store of a client's world: the bucket under its root=
// directory, or the POSIX store of root.
func (s *Server) storeFor(root *os.Root, acc certs.ClientAccess, dirs *xfer.KnownDirs) store.Store {
	if s.s3 != nil {
		return s.s3.Sub(acc.Root)
	}
	return &store.POSIX{Root: root, Dirs: dirs}
}

// freeSpace is the free space of the root's file system (an error for
// an S3 root, whose capacity the server cannot tell).
func (s *Server) freeSpace() (uint64, error) {
	if s.root == nil {
		return 0, errNoFreeSpace
	}
	return xfer.FreeSpace(s.root)
}

var errNoFreeSpace = &Error{Code: CodeIOError, Msg: "an object store has no free space to tell"}

// storeHandles answers, on an S3 root, the requests that have no meaning
// for an object store: directories have no mode or mtime (DirMeta is
// acknowledged and ignored), and symlinks and df are refused with
// PermissionDenied (README, "S3 roots"); remove and rename go to the
// store (server_fsstore.go). It returns the
// request id and its handler, or a nil handler for every other request
// (and on a directory root).
func (ss *serverSession) storeHandles(msg wire.Message) (uint64, func() error) {
	if ss.srv.s3 == nil {
		return 0, nil
	}
	refuse := func(what string) func() error {
		return func() error {
			return &Error{Code: CodePermissionDenied, Msg: what + " is not supported on an S3 root"}
		}
	}
	switch m := msg.(type) {
	case *wire.DirMeta:
		return m.ID, func() error {
			if _, err := ss.allow(opMkdir, m.Path); err != nil {
				return err
			}
			return ss.cmd.send(&wire.OK{ID: m.ID})
		}
	case *wire.Symlink:
		return m.ID, refuse("a symlink")
	case *wire.Readlink:
		return m.ID, refuse("a symlink")
	case *wire.Remove:
		return m.ID, func() error { return ss.removeStore(m) }
	case *wire.Rename:
		return m.ID, func() error { return ss.renameStore(m) }
	case *wire.Df:
		return m.ID, refuse("df")
	}
	return 0, nil
}

// listStore sends the listing of p from the store (an S3 root): a single
// entry when p is a file.
func (ss *serverSession) listStore(ctx context.Context, p string, id uint64) error {
	fi, err := ss.store.Stat(ctx, p)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return ss.cmd.send(&wire.ListResult{ID: id, Last: true, Entries: []wire.Entry{entryOf(baseName(p), fi)}})
	}
	out := ss.newListSender(id)
	err = ss.store.List(ctx, p, ss.srv.cfg.MaxListEntries, func(page []fs.FileInfo) error {
		for _, fi := range page {
			if err := out.add(entryOf(fi.Name(), fi)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return out.end()
}

// sweepS3 aborts the multipart uploads of an S3 root whose state object
// has not been written for PartialTTL (README, "S3 roots"). It returns how
// many it aborted.
func (s *Server) sweepS3(ctx context.Context, now time.Time) int {
	n, err := s.s3.Expire(ctx, now.Add(-s.cfg.PartialTTL))
	if err != nil {
		s.log.Warn().Err(err).Msg("expiring partial uploads")
	}
	return n
}

// sendAlign tells the client, before the Accept of push id, how to cut
// its ranges when its writer assembles the file from parts (a multipart
// upload to an S3 root; PROTOCOL.md, "Part-aligned pushes").
func (ss *serverSession) sendAlign(id uint64, rc store.Writer) {
	a, ok := rc.(store.Aligner)
	if !ok {
		return
	}
	if size, window := a.Align(); size > 0 {
		ss.cmd.send(&wire.PartAlign{ID: id, PartSize: size, Window: uint64(window)})
	}
}

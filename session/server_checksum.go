package session

import (
	"context"

	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// openRead opens the file at raw, a path the client sent, for a request
// that reads it (a pull, a checksum): allow(opRead) checks the client's
// access and the path, then the store opens the file as a source (a
// regular file, links followed by the rules of a pull). It returns the
// path checked, the open file, which the caller closes, and its
// metadata; the error is a typed *Error (PermissionDenied, NotFound,
// NotRegular...).
func (ss *serverSession) openRead(ctx context.Context, raw string) (string, xfer.Source, xfer.FileMeta, error) {
	p, err := ss.allow(opRead, raw)
	if err != nil {
		return "", nil, xfer.FileMeta{}, err
	}
	f, meta, err := ss.store.OpenSource(ctx, p)
	if err != nil {
		return "", nil, xfer.FileMeta{}, err
	}
	return p, f, meta, nil
}

// checksum handles a Checksum (-c): the SHA-256 of a regular file under
// the client's root, opened exactly as a Get opens it (opRead, so a
// write-only client is refused; a link is followed by the rules of a
// pull, so a hash tells nothing a pull would not). It runs on the
// command loop, so that the client's fence (see fenced) tells a server
// that predates the request: hashing holds this session's later
// requests, and only this session's, which a -c run does before any
// transfer starts. It stops when ctx, the session's, ends.
func (ss *serverSession) checksum(ctx context.Context, m *wire.Checksum) error {
	p, f, meta, err := ss.openRead(ctx, m.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	n, sum, err := hashSource(ctx, f, meta.Size, p)
	if err != nil {
		return err
	}
	return ss.cmd.send(&wire.ChecksumResult{ID: m.ID, Size: n, Hash: sum})
}

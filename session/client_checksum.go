package session

import (
	"context"
	"crypto/subtle"
	"os"
	"sync"

	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// contentMatch is what Options.Checksum found for one file.
type contentMatch uint8

const (
	contentUnknown contentMatch = iota // not compared
	contentSame                        // same SHA-256: up to date
	contentDiffers                     // another content: replace (or Exists)
)

// Checksum returns the size and SHA-256 of the remote regular file p
// (-c). A link is CodeNotRegular; a server that predates the request
// gives ErrUnsupported.
func (c *clientConn) Checksum(ctx context.Context, p string) (uint64, []byte, error) {
	m, err := fenced[*wire.ChecksumResult](ctx, c, p, func(id uint64) wire.Message { return &wire.Checksum{ID: id, Path: p} })
	if err != nil {
		return 0, nil, err
	}
	return m.Size, m.Hash, nil
}

// checksumConcurrency bounds the files compared at once (each is a
// whole read on both sides).
const checksumConcurrency = 8

// compareContent runs Options.Checksum over jobs: every file whose
// destination (as indexed in trees) is a regular file of the same size
// gets its content compared, the local side hashed with local(j), the
// remote one with a Checksum request, and its content set. A file that
// cannot be compared (either side fails) ends with that error.
func compareContent(ctx context.Context, c *clientConn, dir Direction, jobs []*job, trees []*syncTree, opts Options, local func(j *job) (uint64, []byte, error)) {
	sem := make(chan struct{}, checksumConcurrency)
	var wg sync.WaitGroup
	for _, j := range jobs {
		d, ok := destFile(dir, j, trees)
		if !ok || uint64(d.size) != j.meta.Size || (opts.Update && d.mtime.After(j.meta.MTime)) {
			continue
		}
		if acquireCtx(ctx, sem) != nil {
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			_, lh, err := local(j)
			if err != nil {
				j.preErr = err
				return
			}
			_, rh, err := c.Checksum(ctx, j.t.Path)
			if err != nil {
				j.preErr = xfer.WithPath(xfer.AsError(err, j.t.Path), j.t.Path)
				return
			}
			if subtle.ConstantTimeCompare(lh, rh) == 1 {
				j.content = contentSame
			} else {
				j.content = contentDiffers
			}
		})
	}
	wg.Wait()
}

// skipSameContent makes the files Options.Checksum found identical up to
// date before a real run: no request is sent for them.
func skipSameContent(dir Direction, jobs []*job) {
	for _, j := range jobs {
		if j.preErr == nil && j.content == contentSame {
			j.preErr = &Error{Code: CodeUpToDate, Path: jobDest(dir, j), Msg: "same checksum"}
		}
	}
}

// hashLocalSource hashes a push's local source.
func hashLocalSource(ctx context.Context) func(j *job) (uint64, []byte, error) {
	return func(j *job) (uint64, []byte, error) { return hashFile(ctx, xfer.LocalFS{}, j.t.Local, j.t.Local) }
}

// hashLocalDest hashes a pull's local destination under root.
func hashLocalDest(ctx context.Context, root *os.Root) func(j *job) (uint64, []byte, error) {
	return func(j *job) (uint64, []byte, error) { return hashFile(ctx, root, j.t.Local, j.t.Local) }
}

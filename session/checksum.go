package session

import (
	"context"
	"crypto/sha256"
	"io"

	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// Content checks (-c/--checksum) shared by both sides: the client hashes
// its local files with hashFile, the server the files it is asked about
// (server_checksum.go); either applies noQuickCheck to its destination
// check.

// hashFile returns the size and SHA-256 of the regular file name of
// fsys (display names it in errors), opened as a source is
// (xfer.OpenSource: never a FIFO, no waiting), checking ctx between
// reads.
func hashFile(ctx context.Context, fsys xfer.SourceFS, name, display string) (uint64, []byte, error) {
	f, meta, err := xfer.OpenSource(fsys, name, display)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	return hashSource(ctx, f, meta.Size, display)
}

// hashSource returns the byte count and SHA-256 of the first size bytes
// of f, checking ctx between reads; display names it in errors.
func hashSource(ctx context.Context, f io.ReaderAt, size uint64, display string) (uint64, []byte, error) {
	h := sha256.New()
	r := io.NewSectionReader(f, 0, int64(size))
	n, err := io.CopyBuffer(h, ctxReader{ctx, r}, make([]byte, 256<<10))
	if err != nil {
		return 0, nil, xfer.AsError(err, display)
	}
	return uint64(n), h.Sum(nil), nil
}

// ctxReader fails reads once ctx has ended.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, xfer.CtxError(c.ctx)
	}
	return c.r.Read(b)
}

// noQuickCheck applies wire.FlagNoQuickCheck to a CheckDest decision:
// the client found the contents differ, so a destination that the
// quick check finds up to date differs (CodeExists without FlagForce).
func noQuickCheck(dec xfer.DestDecision, err error, flags wire.TransferFlags, p string) (xfer.DestDecision, error) {
	if err != nil || dec != xfer.DestUpToDate || flags&wire.FlagNoQuickCheck == 0 {
		return dec, err
	}
	if flags&wire.FlagForce == 0 {
		return 0, xfer.Errorf(CodeExists, p, "the destination already exists and its content differs (use --force to overwrite)")
	}
	return xfer.DestWrite, nil
}

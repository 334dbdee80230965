package session

import (
	"bufio"
	"context"
	"io"
	"os"

	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// signFile computes the signature of old, the receiver's version of a
// delta transfer's file (the client's in a pull, the server's in a push),
// and hands it to emit a DeltaSig frame's worth at a time (PROTOCOL.md,
// "Delta"). It returns old's size in bytes, which the plan is checked
// against; an error is a typed *Error naming p.
func signFile(ctx context.Context, old *os.File, p string, emit func(chunks []wire.SigChunk, last bool) error) (uint64, error) {
	fi, err := old.Stat()
	if err != nil {
		return 0, xfer.AsError(err, p)
	}
	r := bufio.NewReaderSize(io.NewSectionReader(old, 0, fi.Size()), 1<<20)
	if err := xfer.Signature(ctx, r, emit); err != nil {
		return 0, xfer.AsError(err, p)
	}
	return uint64(fi.Size()), nil
}

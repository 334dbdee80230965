// Package store is where a server keeps its files: the interface between
// the protocol code of package session and the storage, with two
// implementations, POSIX (a directory, through os.Root and the engine's
// .part, resume record and rename: today's behaviour) and S3 (an
// S3-compatible object store, the objects being the files).
//
// A Store is a client's world: every path it is given is clean (see
// session's cleanPath), relative to its root, and never leaves it.
package store

import (
	"context"
	"io/fs"

	"github.com/quic-go/quic-go"

	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// Store is a tree of files. Errors are *xfer.Error (a wire code, the path
// and a detail).
type Store interface {
	// Stat describes p: a regular file, or a directory.
	Stat(ctx context.Context, p string) (fs.FileInfo, error)
	// List calls fn with the entries of directory p, in pages; more than
	// limit entries fail with wire.LimitExceeded.
	List(ctx context.Context, p string, limit int, fn func([]fs.FileInfo) error) error
	// Mkdir creates directory p and its parents, with mode perm.
	Mkdir(ctx context.Context, p string, perm fs.FileMode) error
	// OpenSource opens file p for reading at any offset, pinned to the
	// version stat'ed (a later replacement fails the reads with
	// wire.SourceChanged).
	OpenSource(ctx context.Context, p string) (xfer.Source, xfer.FileMeta, error)
	// CheckDest decides whether a push of meta to p is needed: up to
	// date, or to be written; an existing, different file without force
	// fails with wire.Exists.
	CheckDest(ctx context.Context, p string, meta xfer.FileMeta, force bool) (xfer.DestDecision, error)
	// OpenWriter opens the writer of one incoming file, with the ranges
	// it holds from an earlier, interrupted transfer.
	OpenWriter(ctx context.Context, cfg WriterConfig) (Writer, xfer.Offer, error)
}

// WriterConfig describes one incoming file.
type WriterConfig struct {
	Path  string        // clean destination path
	Meta  xfer.FileMeta // the source's size, mode and mtime, as offered
	Force bool          // replace an existing, different file
	// NoResume ignores a partial upload and starts over.
	NoResume bool
	// Ack tells the sender a range has been written.
	Ack func(r wire.Range)
	// Progress is called with the byte count of every chunk written.
	Progress func(n int)
}

// Writer assembles one file from range streams and holds the ranges
// written: it checkpoints them so an interrupted transfer resumes, makes
// the file visible under its name only once its whole-file hash
// matched the sender's seal, and drops what it holds on a mismatch.
// *xfer.Receiver is the POSIX one.
type Writer interface {
	// Receive takes one range stream whose header h has been read, and
	// writes it in a goroutine the writer owns; false (and the stream
	// stopped) if the transfer has ended.
	Receive(ctx context.Context, rs *quic.ReceiveStream, h wire.RangeHeader) bool
	// SetSeal records the sender's whole-file hash (xfer.HashSize bytes).
	SetSeal(h []byte)
	// Wait blocks until the file is complete and sealed (then commits it
	// if its hash matches, or aborts it), a fatal error, or ctx ends
	// (then checkpoints, so a later transfer resumes). The error is an
	// *xfer.Error.
	Wait(ctx context.Context) error
}

// Aligner is a Writer that assembles the file from parts and needs the
// sender's ranges cut at their boundaries (PROTOCOL.md, "Part-aligned
// pushes"): Align returns the part size in bytes and how many parts it
// buffers at once, or (0, 0) when any ranges do. A range that breaks
// the rule fails the transfer with wire.RangeMisaligned.
type Aligner interface {
	Align() (partSize uint64, window int)
}

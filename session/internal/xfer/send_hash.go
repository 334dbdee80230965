package xfer

import (
	"bytes"
	"context"
	"errors"
	"io"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// checkPrefix hashes the first n bytes of the file into the prefix hash
// and compares them with the receiver's hash of its partial file.
func (sd *Sender) checkPrefix(n uint64, want []byte) *Error {
	cfg := &sd.cfg
	bp := getChunk(n)
	defer putChunk(bp)
	buf := *bp
	for off := sd.ph.n; off < n; {
		k := min(uint64(len(buf)), n-off)
		got, err := cfg.File.ReadAt(buf[:k], int64(off))
		if uint64(got) < k {
			if err == nil || err == io.EOF {
				return Errorf(wire.SourceChanged, cfg.Path, "file shrank while being sent")
			}
			return AsError(err, cfg.Path)
		}
		sd.ph.offer(off, buf[:k])
		off += k
	}
	if !bytes.Equal(sd.ph.sum(), want) {
		return Errorf(wire.HashMismatch, cfg.Path, "the partial file belongs to another version of the source")
	}
	return nil
}

type hashResult struct {
	sum []byte
	err *Error
}

// hashFile completes the whole-file hash: the range senders hash their
// bytes as they read them, when those bytes are next in line; hashFile
// reads back from the file only the bytes no range attempt will offer
// (those the receiver already holds, and those sent out of order). Then
// it checks that the file did not change meanwhile (finishHash).
func (sd *Sender) hashFile(ctx context.Context) hashResult {
	cfg := &sd.cfg
	size := cfg.Meta.Size
	var chunk lazyChunk // taken on the first read-back
	defer chunk.release()
	for {
		sd.ph.mu.Lock()
		n, ch := sd.ph.n, sd.ph.changed
		wait := n < size && sd.unsent.Contains(n)
		limit := sd.unsent.NextFrom(n, size)
		sd.ph.mu.Unlock()
		if n == size {
			break
		}
		if wait {
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return hashResult{err: WithPath(CauseError(ctx), cfg.Path)}
			}
		}
		buf := chunk.get()
		k := min(uint64(len(buf)), limit-n)
		got, err := cfg.File.ReadAt(buf[:k], int64(n))
		if uint64(got) < k {
			if err == nil || err == io.EOF {
				return hashResult{err: Errorf(wire.SourceChanged, cfg.Path, "file shrank while being sent")}
			}
			return hashResult{err: AsError(err, cfg.Path)}
		}
		sd.ph.offer(n, buf[:k])
		if ctx.Err() != nil {
			return hashResult{err: WithPath(CauseError(ctx), cfg.Path)}
		}
	}
	return sd.finishHash()
}

// finishHash checks that the file did not change while it was read, and
// returns the whole-file hash.
func (sd *Sender) finishHash() hashResult {
	cfg := &sd.cfg
	size := cfg.Meta.Size
	fi, err := cfg.File.Stat()
	if err != nil {
		return hashResult{err: AsError(err, cfg.Path)}
	}
	now := MetaOf(fi)
	switch {
	case now.Size > size:
		return hashResult{err: Errorf(wire.SourceChanged, cfg.Path, "file grew while being sent (from %d to %d bytes)", size, now.Size)}
	case now.Size < size:
		return hashResult{err: Errorf(wire.SourceChanged, cfg.Path, "file shrank while being sent (from %d to %d bytes)", size, now.Size)}
	case !now.MTime.Equal(cfg.Meta.MTime):
		return hashResult{err: Errorf(wire.SourceChanged, cfg.Path, "file changed while being sent")}
	}
	// One read past the end: a file whose stat size is below what it
	// holds (it grew without a new stat yet, or a special file system
	// says less) is never cut silently at the size it was offered with.
	var probe [1]byte
	if n, _ := cfg.File.ReadAt(probe[:], int64(size)); n > 0 {
		return hashResult{err: Errorf(wire.SourceChanged, cfg.Path, "file holds more than the %d bytes it had when the transfer began (it grew, or its file system reports a wrong size)", size)}
	}
	return hashResult{sum: sd.ph.sum()}
}

// deltaSum is the Seal of a Delta: the file hash of the file's bytes
// outside held, each chunk of them checked against the sum it had when
// the plan was made (literalSum with cfg.Chunks), the file found
// unchanged after they were read (finishHash).
func (sd *Sender) deltaSum(held RangeSet) hashResult {
	cfg := &sd.cfg
	var buf lazyChunk
	defer buf.release()
	sum, err := literalSum(cfg.File, held, cfg.Meta.Size, cfg.Chunks, buf.get())
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return hashResult{err: Errorf(wire.SourceChanged, cfg.Path, "file shrank while being sent")}
	case errors.Is(err, errChunkChanged):
		return hashResult{err: Errorf(wire.SourceChanged, cfg.Path, "file changed while being sent (%v)", err)}
	}
	if err != nil {
		return hashResult{err: AsError(err, cfg.Path)}
	}
	if h := sd.finishHash(); h.err != nil {
		return h
	}
	return hashResult{sum: sum}
}

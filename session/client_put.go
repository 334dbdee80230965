package session

import (
	"context"
	"io"

	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// putJob is one file to push.
type putJob struct {
	local    string // path on this machine
	remote   string // clean path under the server root
	force    bool
	noResume bool
	// noQuickCheck: -c found the contents differ (wire.FlagNoQuickCheck).
	noQuickCheck bool
	whole        bool         // no delta transfer (-W)
	limit        *RateLimiter // optional
	dest         *destStates  // optional: the batch's listings of its destination
	// walked is the file as the tree walk saw it (size, mode, mtime),
	// zero when not known: a destination its directory's listing shows
	// up to date with it is not even opened.
	walked xfer.FileMeta
}

// runPut pushes one file: offer it, learn which ranges the server already
// holds, take a slot, send the others over the session's connections and
// the seal, give the slot back once every range is written, and wait for
// the verdict. Offers are pipelined: many files wait for their Accept at
// once, so a tree of small files costs a few round trips, not one per
// file; a small file whose destination is known missing does not wait
// for its Accept at all (sendsEager).
func (c *clientConn) runPut(ctx context.Context, t *Transfer, j putJob, s *slot) error {
	// One lookup per file: each counts towards letting its directory's
	// listing go (destStates.want), so a second one made the last half of
	// a directory's files list it again.
	var dest DestState
	if !j.noQuickCheck {
		dest = c.destState(ctx, j.dest, j.remote)
	}
	if !j.walked.MTime.IsZero() && dest.UpToDate(j.walked) {
		// As rsync's quick check: the walk's stat and the listing agree
		// (a no-op push of a tree opens none of its files).
		return xfer.UpToDate(j.remote)
	}
	open := xfer.OpenSource
	if !j.walked.MTime.IsZero() {
		open = xfer.OpenWalked // the walk checked it is a regular file
	}
	f, meta, err := open(xfer.LocalFS{}, j.local, j.local)
	if err != nil {
		return err
	}
	defer f.Close()
	t.size.Store(int64(meta.Size))
	if dest.UpToDate(meta) {
		// The listing of its directory says the server would answer
		// up to date: no offer.
		return xfer.UpToDate(j.remote)
	}
	put := &wire.Put{Path: j.remote, Size: meta.Size, Mode: uint32(meta.Mode), MTime: meta.MTime, Flags: transferFlags(j.force, j.noResume) | deltaFlag(j.force && !j.whole)}
	if j.noQuickCheck {
		put.Flags |= wire.FlagNoQuickCheck
	}
	eager := c.sendsEager(dest, meta)
	if eager {
		// Nothing there to resume or to delta against: the file goes
		// whole, with its offer.
		put.Flags = put.Flags&^wire.FlagDelta | wire.FlagNoResume
	}
	id, w, err := c.request(func(id uint64) wire.Message { put.ID = id; return put })
	if err != nil {
		return err
	}
	defer c.done(id, w)
	// A cancelled transfer tells the server, which answers with a Done
	// once its side has stopped.
	stopCancel := context.AfterFunc(ctx, func() {
		if e := xfer.CauseError(ctx); e != nil {
			c.cmd.send(&wire.Cancel{ID: id, Code: e.Code})
		}
	})
	defer stopCancel()

	var plan putPlan
	if !eager {
		if plan, err = c.awaitPlan(ctx, w, id, f, meta, j.remote); err != nil {
			return err
		}
	}
	if err := s.acquire(ctx); err != nil {
		return err
	}
	t.setRunning()
	sd := xfer.NewSender(xfer.SenderConfig{
		ID: id, Path: j.remote, File: f, Meta: meta, Lanes: c.lanes,
		Progress: c.counter(t), Limit: j.limit,
		Seal:  func(h []byte) error { return c.send(&wire.Seal{ID: id, Hash: h}) },
		Ended: c.closed, EndErr: c.Err,
		Align: plan.align, Window: plan.window, Delta: plan.chunks != nil, Chunks: plan.chunks,
		Eager: eager,
	})
	verdict, err := sd.Run(ctx, plan.offer, w.msgs, s.release)
	s.release()
	if err != nil {
		e := xfer.AsError(err, j.remote)
		if ctx.Err() == nil && !c.lost() {
			// Our side failed (the source changed, or the server's
			// partial belongs to another version of it): tell the
			// server, which keeps what it has for a later resume, and
			// wait until it has let the file go, so that a retry is
			// not refused as a transfer still running.
			c.cmd.send(&wire.Cancel{ID: id, Code: e.Code})
			c.awaitVerdict(ctx, w)
		}
		return e
	}
	switch m := verdict.(type) {
	case *wire.Accept: // eager, and up to date after all (Sender.Run)
		return xfer.UpToDate(j.remote)
	case *wire.Reject:
		if eager {
			c.noEager.Store(true)
		}
		return rejected(m, j.remote)
	case *wire.Done:
		if m.Code != CodeOK {
			return xfer.Verdict(m.Code, j.remote, m.Msg)
		}
	}
	return nil
}

// transferFlags are the flags of a Put or Get.
func transferFlags(force, noResume bool) wire.TransferFlags {
	var f wire.TransferFlags
	if force {
		f |= wire.FlagForce
	}
	if noResume {
		f |= wire.FlagNoResume
	}
	return f
}

// awaitVerdict waits for the server's Done or Reject on w, skipping the
// Acks and seals still on their way, until ctx ends or the session does.
func (c *clientConn) awaitVerdict(ctx context.Context, w *waiter) {
	for {
		msg, err := c.await(ctx, w)
		if err != nil {
			return
		}
		switch m := msg.(type) {
		case *wire.Done, *wire.Reject:
			return
		case *wire.Accept:
			if m.Flags&wire.AcceptUpToDate != 0 {
				return // an eager push's: no Done follows
			}
		}
	}
}

// putPlan is what the server's Accept of a push says to send: the offer
// (the ranges it holds, and the hash of their prefix), the delta's
// chunks when it seeded one from our plan, and the part alignment of an
// S3 root. The zero value sends the whole file in the usual ranges.
type putPlan struct {
	offer  xfer.Offer
	chunks []xfer.Chunk
	align  uint64
	window int
}

// awaitPlan waits for the server's Accept of push id (awaitAccept) and
// returns what it says to send: UpToDate when the server has the file,
// the server's Reject, or the session's end.
func (c *clientConn) awaitPlan(ctx context.Context, w *waiter, id uint64, f io.ReaderAt, meta xfer.FileMeta, p string) (putPlan, error) {
	acc, planned, err := c.awaitAccept(ctx, w, id, f, meta, p)
	if err != nil {
		return putPlan{}, err
	}
	if acc.Flags&wire.AcceptUpToDate != 0 {
		return putPlan{}, xfer.UpToDate(p)
	}
	if len(acc.Have) > 0 {
		c.log.Debug().Str("path", p).Int("ranges", len(acc.Have)).Msg("resuming")
	}
	align, window, err := alignOf(w, meta.Size, p)
	if err != nil {
		c.cmd.send(&wire.Cancel{ID: id, Code: CodeProtocolViolation})
		c.awaitVerdict(ctx, w)
		return putPlan{}, err
	}
	return putPlan{offer: xfer.Offer{Have: acc.Have, PrefixHash: acc.PrefixHash}, chunks: planned, align: align, window: window}, nil
}

// eagerMax is the largest file, in bytes, a push sends eagerly: with its
// offer, without waiting a round trip for the Accept (PROTOCOL.md, "Eager
// small files"). It bounds what a refusal wastes: at most one round trip
// of sending at the link's rate, since the first refusal stops eager
// sending on the connection (clientConn.noEager). 64 KiB holds most files
// of a source tree (the Linux kernel's median is about 10 KiB) and stays
// one range and one S3 part.
const eagerMax = 64 << 10

// sendsEager reports whether a push of a file of meta to a destination
// in state dest goes eagerly: a listing showed nothing there (so there is
// nothing to resume, skip or delta against), it is at most eagerMax
// bytes, and no eager push of this connection has been refused.
func (c *clientConn) sendsEager(dest DestState, meta xfer.FileMeta) bool {
	return dest.Known && !dest.Exists && meta.Size <= eagerMax && !c.noEager.Load()
}

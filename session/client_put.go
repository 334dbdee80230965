package session

import (
	"context"

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
// file.
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

	acc, planned, err := c.awaitAccept(ctx, w, id, f, meta, j.remote)
	if err != nil {
		return err
	}
	if acc.Flags&wire.AcceptUpToDate != 0 {
		return xfer.UpToDate(j.remote)
	}
	offer := xfer.Offer{Have: acc.Have, PrefixHash: acc.PrefixHash}
	if len(acc.Have) > 0 {
		c.log.Debug().Str("path", j.remote).Int("ranges", len(acc.Have)).Msg("resuming")
	}
	align, window, err := alignOf(w, meta.Size, j.remote)
	if err != nil {
		c.cmd.send(&wire.Cancel{ID: id, Code: CodeProtocolViolation})
		c.awaitVerdict(ctx, w)
		return err
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
		Align: align, Window: window, Delta: planned != nil, Chunks: planned,
	})
	verdict, err := sd.Run(ctx, offer, w.msgs, s.release)
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
	case *wire.Reject:
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
		switch msg.(type) {
		case *wire.Done, *wire.Reject:
			return
		}
	}
}

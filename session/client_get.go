package session

import (
	"context"
	"io/fs"
	"os"
	"slices"
	"sync"

	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// getJob is one file to pull.
type getJob struct {
	remote   string        // clean path under the server root
	local    string        // clean path under the local root
	root     *os.Root      // local destination directory
	meta     xfer.FileMeta // as listed by the server
	force    bool
	noResume bool
	// noQuickCheck: -c found the contents differ.
	noQuickCheck bool
	whole        bool            // no delta transfer (-W)
	limit        *RateLimiter    // optional
	dirs         *xfer.KnownDirs // optional: root's directories, held open
	durable      *xfer.GroupSync // optional: the group commit of small files
}

// runGet pulls one file into j.root and reports the verdict to the
// server. The ranges a matching resume record holds are asked to be left
// out; a server whose file is no longer that version refuses with
// HashMismatch and the caller starts over.
func (c *clientConn) runGet(ctx context.Context, t *Transfer, j getJob) error {
	dec, err := xfer.CheckDest(j.root, j.local, j.meta, j.force, j.dirs)
	if j.noQuickCheck {
		dec, err = noQuickCheck(dec, err, transferFlags(j.force, false)|wire.FlagNoQuickCheck, j.local)
	}
	if err != nil {
		return err
	}
	if dec == xfer.DestUpToDate {
		return &Error{Code: CodeUpToDate, Path: j.local}
	}
	// A file the local disk cannot hold is refused before the Get, so
	// before a byte is sent (issue 13 class 9).
	res, err := c.space.AdmitIn(j.root, j.local, j.meta.Size, j.dirs)
	if err != nil {
		return err
	}
	defer res.Release()
	var (
		offer xfer.Offer
		prior *xfer.PriorRecord // read once, for the Get and the receiver
	)
	if !j.noResume {
		prior = xfer.LoadPrior(j.root, j.local, j.dirs)
		if prior.Record.Matches(j.meta) {
			// A delta's record has no prefix hash: it is made from the
			// .part, so the Get offers the whole prefix.
			xfer.HashPrefixIn(j.root, j.local, j.dirs, prior.Record)
			offer.Have, offer.PrefixHash = prior.Record.Offer()
		}
	}
	// A delta (client_delta_pull.go) describes the local version behind
	// the Get.
	old := pullDeltaBase(j, offer.Have)
	if old != nil {
		defer old.Close()
	}
	get := &wire.Get{Path: j.remote, Size: j.meta.Size, MTime: j.meta.MTime, Flags: transferFlags(false, j.noResume) | deltaFlag(old != nil), Have: offer.Have, PrefixHash: offer.PrefixHash}
	id, w, err := c.request(func(id uint64) wire.Message { get.ID = id; return get })
	if err != nil {
		return err
	}
	defer c.done(id, w)
	cancelRemote := func(err error) {
		if !c.lost() {
			c.cmd.send(&wire.Cancel{ID: id, Code: xfer.AsError(err, "").Code})
		}
	}
	if old != nil {
		if err := c.sendSignature(ctx, id, old, j.local); err != nil {
			cancelRemote(err)
			return err
		}
	}
	info, plan, err := c.awaitFileInfo(ctx, w, j, old != nil)
	if err != nil {
		if !xfer.IsVerdict(err) {
			cancelRemote(err)
		}
		return err
	}
	meta := xfer.FileMeta{Size: info.Size, Mode: fs.FileMode(info.Mode).Perm(), MTime: info.MTime}
	t.size.Store(int64(meta.Size))
	rc, held, err := xfer.OpenReceiver(xfer.ReceiverConfig{
		Root: j.root, Path: j.local, Meta: meta, NoResume: len(offer.Have) == 0, Prior: prior,
		Ack:      func(r wire.Range) { c.cmd.send(&wire.Ack{ID: id, Offset: r.Offset, Length: r.Length}) },
		Progress: c.counter(t), Limit: j.limit, Dirs: j.dirs, Sync: j.durable,
	})
	if err != nil {
		cancelRemote(err)
		return err
	}
	if plan != nil {
		if held, err = c.seedPull(ctx, id, rc, old, plan, meta, j.local); err != nil {
			cancelRemote(err)
			return err
		}
		offer = held
	}
	res.Landed()
	if !slices.Equal(held.Have, offer.Have) {
		// The .part went away under us; the server skips what we
		// announced, so a gap would never be filled.
		rc.Abandon(CodeCancelled)
		cancelRemote(xfer.Errorf(CodeCancelled, j.local, ""))
		return xfer.Errorf(CodeHashMismatch, j.local, "partial file changed during the request")
	}
	t.setRunning()
	w.setReceiver(ctx, rc)
	// Seals and server verdicts arrive on the command channel while the
	// ranges are written.
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		remoteErr *Error
		wg        sync.WaitGroup
	)
	wg.Go(func() {
		for {
			select {
			case m := <-w.msgs:
				switch m := m.(type) {
				case *wire.Seal:
					rc.SetSeal(m.Hash)
				case *wire.Reject:
					remoteErr = rejected(m, j.remote)
					cancel(remoteErr)
					return
				case *wire.Done:
					remoteErr = &Error{Code: m.Code, Remote: true, Path: j.remote, Msg: m.Msg}
					cancel(remoteErr)
					return
				}
			case <-c.closed:
				cancel(xfer.AsError(c.Err(), j.local))
				return
			case <-wctx.Done():
				return
			}
		}
	})
	rerr := rc.Wait(wctx)
	cancel(nil)
	wg.Wait()
	done := &wire.Done{ID: id}
	if rerr != nil {
		e := xfer.AsError(rerr, j.local)
		if remoteErr == nil && !c.lost() {
			done.Code, done.Msg = e.Code, rejectText(e)
			c.cmd.send(done)
		}
		return e
	}
	c.cmd.send(done)
	return nil
}

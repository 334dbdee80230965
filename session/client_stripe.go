package session

import (
	"context"
	"io/fs"
	"os"
	"sync"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// runPutStriped pushes one file as ranges over the session's pool: offer
// it with FlagStriped, learn which ranges the server already holds, send
// the others and the seal, and wait for the verdict. The slot is given
// back once every range is acked.
func (c *Client) runPutStriped(ctx context.Context, t *Transfer, j putJob, s *slot) error {
	f, meta, err := openSource(os.Open, j.local, j.local)
	if err != nil {
		return err
	}
	defer f.Close()
	t.size.Store(int64(meta.Size))
	put := &wire.Put{Path: j.remote, Size: meta.Size, Mode: uint32(meta.Mode), MTime: meta.MTime, Flags: wire.FlagStriped}
	if j.force {
		put.Flags |= wire.FlagForce
	}
	if j.noResume {
		put.Flags |= wire.FlagNoResume
	}
	id, w, err := c.request(func(id uint64) wire.Message { put.ID = id; return put })
	if err != nil {
		return err
	}
	defer c.done(id, w)
	stopCancel := context.AfterFunc(ctx, func() {
		if e := causeError(ctx); e != nil {
			c.cmd.send(&wire.Cancel{ID: id, Code: e.Code})
		}
	})
	defer stopCancel()

	msg, err := c.await(ctx, w)
	if err != nil {
		return withPath(asError(err, j.remote), j.remote)
	}
	var acc *wire.StripeAccept
	switch m := msg.(type) {
	case *wire.StripeAccept:
		acc = m
	case *wire.Accept:
		if m.Flags&wire.AcceptUpToDate != 0 {
			return &Error{Code: CodeUpToDate, Path: j.remote, verdict: true}
		}
		return errorf(CodeProtocolViolation, j.remote, "accept without up_to_date for a striped put")
	case *wire.Reject:
		return rejected(m, j.remote)
	default:
		return errorf(CodeProtocolViolation, j.remote, "unexpected %s", msg.Type())
	}
	if _, ok := rangeSetOf(acc.Have, meta.Size); !ok {
		return errorf(CodeProtocolViolation, j.remote, "server holds ranges outside the file")
	}
	if len(acc.Have) > 0 {
		c.log.Debug().Str("path", j.remote).Int("ranges", len(acc.Have)).Msg("resuming striped file")
	}
	if err := s.acquire(ctx); err != nil {
		return err
	}
	t.setRunning()
	sd := &stripeSender{
		id: id, path: j.remote, file: f, meta: meta, lanes: c.lanes,
		progress: c.counter(t), limit: j.limit,
		seal:  func(h []byte) error { return c.cmd.send(&wire.Seal{ID: id, Hash: h}) },
		ended: c.closed, endErr: c.Err,
	}
	verdict, err := sd.run(ctx, acc.Have, w.msgs, s.release)
	s.release()
	if err != nil {
		e := asError(err, j.remote)
		if ctx.Err() == nil && !c.lost() {
			// Our side failed (the source changed): tell the server,
			// which keeps what it has for a later resume.
			c.cmd.send(&wire.Cancel{ID: id, Code: e.Code})
		}
		return e
	}
	switch m := verdict.(type) {
	case *wire.Reject:
		return rejected(m, j.remote)
	case *wire.Done:
		if m.Code != CodeOK {
			return &Error{Code: m.Code, Remote: true, Path: j.remote, Msg: m.Msg, verdict: true}
		}
	}
	return nil
}

// runGetStriped pulls one file as ranges over the session's pool into
// j.root. The ranges a matching resume record holds are asked to be left
// out; a server whose file is no longer that version refuses with
// HashMismatch and the caller starts over.
func (c *Client) runGetStriped(ctx context.Context, t *Transfer, j getJob) error {
	dec, err := checkDest(j.root, j.local, j.meta, j.force, nil)
	if err != nil {
		return err
	}
	if dec == destUpToDate {
		return &Error{Code: CodeUpToDate, Path: j.local}
	}
	var have []wire.Range
	if !j.noResume {
		if rec := loadRecord(j.root, j.local); rec.matches(j.meta) {
			set := rec.held()
			have = set.ranges()
		}
	}
	get := &wire.StripeGet{Path: j.remote, Size: j.meta.Size, MTime: j.meta.MTime, Flags: wire.FlagStriped, Have: have}
	if j.noResume {
		get.Flags |= wire.FlagNoResume
	}
	id, w, err := c.request(func(id uint64) wire.Message { get.ID = id; return get })
	if err != nil {
		return err
	}
	defer c.done(id, w)
	cancelRemote := func(err error) {
		if !c.lost() {
			c.cmd.send(&wire.Cancel{ID: id, Code: asError(err, "").Code})
		}
	}
	msg, err := c.await(ctx, w)
	if err != nil {
		cancelRemote(err)
		return withPath(asError(err, j.remote), j.remote)
	}
	var info *wire.FileInfo
	switch m := msg.(type) {
	case *wire.FileInfo:
		info = m
	case *wire.Reject:
		return rejected(m, j.remote)
	default:
		return errorf(CodeProtocolViolation, j.remote, "unexpected %s", msg.Type())
	}
	meta := fileMeta{Size: info.Size, Mode: fs.FileMode(info.Mode).Perm(), MTime: info.MTime}
	t.size.Store(int64(meta.Size))
	sr, held, err := openStripe(j.root, j.local, meta, len(have) == 0)
	if err != nil {
		cancelRemote(err)
		return err
	}
	if len(held) != len(have) {
		// The record changed under us; the server skips what we
		// announced, so a gap would never be filled.
		sr.stopStreams(CodeCancelled)
		sr.f.Close()
		cancelRemote(errorf(CodeCancelled, j.local, ""))
		return errorf(CodeHashMismatch, j.local, "partial file changed during the request")
	}
	sr.progress = c.counter(t)
	sr.limit = j.limit
	sr.ack = func(r wire.Range) { c.cmd.send(&wire.Ack{ID: id, Offset: r.Offset, Length: r.Length}) }
	t.setRunning()
	w.setReceiver(ctx, sr)
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
					sr.setSeal(m.Hash)
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
				cancel(asError(c.Err(), j.local))
				return
			case <-wctx.Done():
				return
			}
		}
	})
	rerr := sr.wait(wctx)
	cancel(nil)
	wg.Wait()
	done := &wire.Done{ID: id}
	if rerr != nil {
		e := asError(rerr, j.local)
		if remoteErr == nil && !c.lost() {
			done.Code, done.Msg = e.Code, rejectText(e)
			c.cmd.send(done)
		}
		return e
	}
	c.cmd.send(done)
	return nil
}

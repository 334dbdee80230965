package session

import (
	"bytes"
	"context"
	"hash"
	"io/fs"
	"os"
	"path"

	"github.com/quic-go/quic-go"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// get handles a pull request: open the file and register the transfer; a
// goroutine then decides the resume offset, announces the file with
// FileInfo and sends it on a fresh stream.
func (ss *serverSession) get(ctx context.Context, m *wire.Get) error {
	p, err := cleanPath(m.Path)
	if err != nil {
		return err
	}
	f, meta, err := openSource(ss.srv.root.Open, p, p)
	if err != nil {
		return err
	}
	x, err := ss.registerPull(ctx, m.ID, p, meta, false)
	if err != nil {
		f.Close()
		return err
	}
	ss.wg.Go(func() {
		defer f.Close()
		// Checking the client's prefix reads up to the whole file, so it
		// runs here rather than on the command loop, where it would hold
		// up every other request of the session.
		offset, prefix := ss.checkPrefix(f, meta, m)
		x.offset = offset
		if err := ss.cmd.send(&wire.FileInfo{ID: m.ID, Size: meta.Size, Mode: uint32(meta.Mode), MTime: meta.MTime, Offset: offset}); err != nil {
			return // the connection is gone; the session's teardown ends x
		}
		ss.sendPull(x, f, prefix)
	})
	return nil
}

// registerPull enters a pull in the session, within MaxTransfers and
// with at most one pull of a path at a time. A striped pull gets a
// channel for the acks and the verdict.
func (ss *serverSession) registerPull(ctx context.Context, id uint64, p string, meta fileMeta, striped bool) (*serverXfer, error) {
	tctx, cancel := context.WithCancelCause(ctx)
	t := newTransfer(id, Pull, p, "", int64(meta.Size), cancel)
	x := &serverXfer{t: t, ctx: tctx, meta: meta}
	if striped {
		x.msgs = make(chan wire.Message, 16)
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	switch {
	case len(ss.active) >= ss.srv.cfg.MaxTransfers:
		cancel(nil)
		return nil, errorf(CodeLimitExceeded, p, "more than %d transfers at once", ss.srv.cfg.MaxTransfers)
	case ss.pulls[p] != 0:
		cancel(nil)
		return nil, errorf(CodeBusy, p, "this session is already pulling this file")
	}
	ss.active[id] = x
	ss.pulls[p] = id
	return x, nil
}

// checkPrefix decides where a pull starts: at the client's offset if the
// hash of the client's prefix matches the same bytes of our file, else at
// 0 (the client's .part belongs to another version).
func (ss *serverSession) checkPrefix(f *os.File, meta fileMeta, m *wire.Get) (uint64, hash.Hash) {
	if m.Offset == 0 || m.Flags&wire.FlagNoResume != 0 || m.Offset > meta.Size || len(m.PrefixHash) != wire.HashSize {
		return 0, nil
	}
	h, err := hashPrefix(f, m.Offset)
	if err != nil || !bytes.Equal(h.Sum(nil), m.PrefixHash) {
		ss.log.Info().Str("path", m.Path).Uint64("offset", m.Offset).Msg("client's partial file does not match; sending from 0")
		return 0, nil
	}
	return m.Offset, h
}

// sendPull writes one pulled file on a new stream. The transfer ends when
// the client's Done arrives (or the session ends).
func (ss *serverSession) sendPull(x *serverXfer, f *os.File, prefix hash.Hash) {
	t := x.t
	t.setRunning()
	fail := func(e *Error) {
		ss.log.Info().Uint64("id", t.ID).Str("path", t.Path).Stringer("code", e.Code).Str("msg", e.Msg).Msg("pull failed")
		ss.mu.Lock()
		ss.endLocked(t.ID, x, stateFor(e), e)
		ss.mu.Unlock()
	}
	ws, err := ss.conn.OpenUniStreamSync(x.ctx)
	if err != nil {
		fail(streamWriteError(x.ctx, err, t.Path))
		return
	}
	stop := context.AfterFunc(x.ctx, func() { ws.CancelWrite(quic.StreamErrorCode(causeError(x.ctx).Code)) })
	defer stop()
	if _, err := ws.Write(wire.AppendStreamHeader(nil, wire.StreamHeader{ID: t.ID, Offset: x.offset})); err != nil {
		fail(streamWriteError(x.ctx, err, t.Path))
		return
	}
	sd := &sender{path: t.Path, file: f, meta: x.meta, offset: x.offset, hash: prefix, progress: t.addBytes}
	if err := sd.send(x.ctx, ws); err != nil {
		e := asError(err, t.Path)
		ws.CancelWrite(quic.StreamErrorCode(e.Code))
		fail(e)
		return
	}
	ws.Close()
}

// pullDone records the client's verdict on a pulled file.
func (ss *serverSession) pullDone(m *wire.Done) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	x, ok := ss.active[m.ID]
	if !ok || x.t.Dir != Pull {
		return // already ended on our side (send failure or cancel)
	}
	var err error
	if m.Code != CodeOK {
		err = &Error{Code: m.Code, Remote: true, Path: x.t.Path, Msg: m.Msg}
	}
	ss.log.Info().Uint64("id", m.ID).Str("path", x.t.Path).Stringer("code", m.Code).Msg("pull ended")
	ss.endLocked(m.ID, x, stateFor(err), err)
}

// list sends a directory listing in frames of bounded size, or a single
// entry when the path is not a directory.
func (ss *serverSession) list(m *wire.List) error {
	p, err := cleanPath(m.Path)
	if err != nil {
		return err
	}
	root := ss.srv.root
	fi, err := root.Stat(p)
	if err != nil {
		return asError(err, p)
	}
	if !fi.IsDir() {
		return ss.cmd.send(&wire.ListResult{ID: m.ID, Last: true, Entries: []wire.Entry{entryOf(baseName(p), fi)}})
	}
	d, err := root.Open(p)
	if err != nil {
		return asError(err, p)
	}
	defer d.Close()
	const budget = wire.MaxFrameSize - 1024
	res := &wire.ListResult{ID: m.ID}
	size, total := 0, 0
	for {
		des, rerr := d.ReadDir(256)
		for _, de := range des {
			total++
			if total > ss.srv.cfg.MaxListEntries {
				return errorf(CodeLimitExceeded, p, "directory has more than %d entries", ss.srv.cfg.MaxListEntries)
			}
			e, ok := ss.entryFor(p, de)
			if !ok {
				continue
			}
			if size+e.Len() > budget {
				if err := ss.cmd.send(res); err != nil {
					return err
				}
				res.Entries, size = res.Entries[:0], 0
			}
			res.Entries = append(res.Entries, e)
			size += e.Len()
		}
		if rerr != nil {
			break
		}
	}
	res.Last = true
	return ss.cmd.send(res)
}

// entryFor describes a directory entry. Symlinks that resolve inside the
// root are described by their target (as scp follows them); others are
// listed as symlinks.
func (ss *serverSession) entryFor(dir string, de fs.DirEntry) (wire.Entry, bool) {
	fi, err := de.Info()
	if err != nil {
		return wire.Entry{}, false
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		if t, err := ss.srv.root.Stat(joinPath(dir, de.Name())); err == nil {
			fi = t
		}
	}
	return entryOf(de.Name(), fi), true
}

func entryOf(name string, fi fs.FileInfo) wire.Entry {
	k := wire.KindOther
	switch {
	case fi.Mode().IsRegular():
		k = wire.KindFile
	case fi.IsDir():
		k = wire.KindDir
	case fi.Mode()&fs.ModeSymlink != 0:
		k = wire.KindSymlink
	}
	return wire.Entry{Name: name, Kind: k, Size: uint64(max(fi.Size(), 0)), Mode: uint32(fi.Mode().Perm()), MTime: fi.ModTime()}
}

func baseName(p string) string {
	if p == "." {
		return "."
	}
	return path.Base(p)
}

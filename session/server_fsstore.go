package session

import (
	"context"
	"slices"
	"strings"

	"github.com/qxfer/qxfer/session/internal/store"
	"github.com/qxfer/qxfer/session/internal/wire"
)

// removeStore handles a Remove on a store that is not a directory (an S3
// root): the same checks as remove (changeablePath), then the store's
// Remove, whose codes are those of remove (README, "S3 roots"); a
// directory this server is writing a file into is not empty.
func (ss *serverSession) removeStore(m *wire.Remove) error {
	p, err := ss.changeablePath(m.Path)
	if err != nil {
		return err
	}
	ch, ok := ss.store.(store.Changer)
	if !ok {
		return &Error{Code: CodePermissionDenied, Msg: "remove is not supported by this store"}
	}
	dir := m.Flags&wire.RemoveDir != 0
	if dir {
		// A file being written under p is no key yet (a small file is
		// one PutObject at its end): p holds it all the same, as a
		// directory holds a .part.
		var writing bool
		ss.srv.table.withLive(Push, func(live []string) {
			writing = slices.ContainsFunc(live, func(k string) bool { return strings.HasPrefix(k, ss.tableKey(p)+"/") })
		})
		if writing {
			return &Error{Code: CodeNotEmpty, Path: p, Msg: "a transfer is writing a file in it"}
		}
	}
	if err := ch.Remove(context.Background(), p, dir); err != nil {
		return err
	}
	ss.srv.quotas.treeChanged()
	ss.log.Info().Str("path", p).Bool("dir", dir).Msg("removed")
	return ss.cmd.send(&wire.OK{ID: m.ID})
}

// renameStore handles a Rename on a store that is not a directory (an
// S3 root): the checks of rename (renamePaths), then the store's Rename,
// a copy and a delete of every object, which is not atomic (README, "S3
// roots").
func (ss *serverSession) renameStore(m *wire.Rename) error {
	from, to, err := ss.renamePaths(m)
	if err != nil {
		return err
	}
	ch, ok := ss.store.(store.Changer)
	if !ok {
		return &Error{Code: CodePermissionDenied, Msg: "rename is not supported by this store"}
	}
	if err := ch.Rename(context.Background(), from, to); err != nil {
		return err
	}
	ss.srv.quotas.treeChanged()
	ss.log.Info().Str("from", from).Str("to", to).Msg("renamed")
	return ss.cmd.send(&wire.OK{ID: m.ID})
}

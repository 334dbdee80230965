package session

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// changeablePath cleans a path a request wants to change and checks it:
// the root itself can be neither removed nor renamed (CodeInvalidPath), a
// path some push is writing now is CodeBusy, and mayChange (the client's
// access) must agree.
func (ss *serverSession) changeablePath(raw string) (string, error) {
	p, err := ss.mayChange(raw)
	if err != nil {
		return "", err
	}
	if p == "." {
		return "", xfer.Errorf(CodeInvalidPath, raw, "the served root itself cannot be removed or renamed")
	}
	if ss.srv.table.lookup(Push, ss.tableKey(p)) != nil {
		return "", xfer.Errorf(CodeBusy, p, "a transfer is writing it")
	}
	return p, nil
}

// remove handles a Remove: without wire.RemoveDir, one name that is not a
// directory (a symbolic link is removed, not followed); with it, one empty
// directory. Every path element goes through os.Root, so a symbolic link
// leading out of the root is refused (CodeInvalidPath), never followed.
func (ss *serverSession) remove(m *wire.Remove) error {
	p, err := ss.changeablePath(m.Path)
	if err != nil {
		return err
	}
	root := ss.root
	fi, err := root.Lstat(p)
	if err != nil {
		return xfer.AsError(err, p)
	}
	if m.Flags&wire.RemoveDir != 0 {
		if !fi.IsDir() {
			return xfer.Errorf(CodeNotDirectory, p, "rmdir removes directories only")
		}
		if empty, err := emptyDir(root, p); err != nil {
			return xfer.AsError(err, p)
		} else if !empty {
			return xfer.Errorf(CodeNotEmpty, p, "rmdir removes empty directories only")
		}
		// The directory cache of put may hold it, or names under it.
		ss.dirs.Forget()
	} else if fi.IsDir() {
		return xfer.Errorf(CodeNotRegular, p, "is a directory (rmdir removes empty directories)")
	}
	if err := root.Remove(p); err != nil {
		return fsError(err, p)
	}
	ss.srv.quotas.treeChanged() // the client's usage is measured again
	ss.log.Info().Str("path", p).Bool("dir", fi.IsDir()).Msg("removed")
	return ss.cmd.send(&wire.OK{ID: m.ID})
}

// rename handles a Rename. The new name must not exist: rename never
// replaces anything (CodeExists), unlike rename(2). The check and the
// rename are two steps, so a name created between them by another
// process on the server is replaced (os.Root offers no
// RENAME_NOREPLACE); qxfer's own pushes are kept out by CodeBusy.
func (ss *serverSession) rename(m *wire.Rename) error {
	from, to, err := ss.renamePaths(m)
	if err != nil {
		return err
	}
	root := ss.root
	if _, err := root.Lstat(from); err != nil {
		return xfer.AsError(err, from)
	}
	switch _, err := root.Lstat(to); {
	case err == nil:
		return xfer.Errorf(CodeExists, to, "%s exists, and rename does not replace an existing name", to)
	case !errors.Is(err, fs.ErrNotExist):
		return xfer.AsError(err, to)
	}
	if err := root.Rename(from, to); err != nil {
		return fsError(err, to)
	}
	ss.dirs.Forget()
	ss.srv.quotas.treeChanged()
	ss.log.Info().Str("from", from).Str("to", to).Msg("renamed")
	return ss.cmd.send(&wire.OK{ID: m.ID})
}

// renamePaths cleans and checks the names of a Rename, on every store:
// both changeable (changeablePath), to not from nor inside it
// (CodeInvalidPath), and no push writing a file under from (CodeBusy).
func (ss *serverSession) renamePaths(m *wire.Rename) (from, to string, err error) {
	if from, err = ss.changeablePath(m.From); err != nil {
		return "", "", err
	}
	if to, err = ss.changeablePath(m.To); err != nil {
		return "", "", err
	}
	if to == from || strings.HasPrefix(to, from+"/") {
		return "", "", xfer.Errorf(CodeInvalidPath, to, "cannot move %s into itself", from)
	}
	var busy bool
	ss.srv.table.withLive(Push, func(live []string) {
		busy = slices.ContainsFunc(live, func(k string) bool { return strings.HasPrefix(k, ss.tableKey(from)+"/") })
	})
	if busy {
		return "", "", xfer.Errorf(CodeBusy, from, "a transfer is writing a file under %s", from)
	}
	return from, to, nil
}

// df handles a Df: the file system holding the path, which must exist
// inside the root.
func (ss *serverSession) df(m *wire.Df) error {
	p, err := ss.allow(opList, m.Path)
	if err != nil {
		return err
	}
	u, err := xfer.StatFS(ss.root, p)
	if err != nil {
		return xfer.AsError(err, p)
	}
	return ss.cmd.send(&wire.DfResult{ID: m.ID, Total: u.Total, Free: u.Free, Avail: u.Avail, Files: u.Files, FilesFree: u.FilesFree})
}

// emptyDir reports whether directory p of root has no entries.
func emptyDir(root *os.Root, p string) (bool, error) {
	d, err := root.Open(p)
	if err != nil {
		return false, err
	}
	defer d.Close()
	_, err = d.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return false, err
}

// fsError turns the error of a Remove or Rename into an *Error for p:
// ENOTEMPTY (a directory filled between the check and the removal, or a
// rename onto a directory) is CodeNotEmpty, which errors.Is would
// otherwise read as fs.ErrExist; an *os.LinkError loses its operation and
// old name, the message naming p already.
func fsError(err error, p string) *Error {
	if errors.Is(err, syscall.ENOTEMPTY) {
		return xfer.Errorf(CodeNotEmpty, p, "directory not empty")
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		err = &fs.PathError{Op: le.Op, Path: p, Err: le.Err}
	}
	return xfer.AsError(err, p)
}

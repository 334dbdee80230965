package session

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// dirMeta is the mode and mtime of one directory of a transferred tree,
// kept as rsync -a keeps them: set on the receiving side once the files
// below it are written.
type dirMeta struct {
	path  string // slash-separated: remote (push) or under the local root (pull)
	mode  fs.FileMode
	mtime time.Time
}

// errNoDirMeta is the failure of a DirMeta the server never answered: a
// server from before DirMeta skips the frame as unknown.
var errNoDirMeta = errors.New("the server does not keep directory modes and mtimes (it predates DirMeta)")

// dirMetas sets the permission bits and modification time of the remote
// directories dirs, in order (wire.DirMeta), and returns the outcome of
// each. The requests are pipelined, then a Stat of the root follows them:
// the server handles requests in order, so once the Stat is answered, a
// DirMeta without an answer was skipped by a server that does not know
// it, and fails with errNoDirMeta instead of waiting forever. err is a
// failure of the session itself, for which no outcome is known.
func (c *clientConn) dirMetas(ctx context.Context, dirs []dirMeta) (errs []error, err error) {
	type pending struct {
		id uint64
		w  *waiter
	}
	sent := make([]pending, 0, len(dirs))
	defer func() {
		for _, p := range sent {
			c.done(p.id, p.w)
		}
	}()
	for _, d := range dirs {
		id, w, err := c.request(func(id uint64) wire.Message {
			return &wire.DirMeta{ID: id, Path: d.path, Mode: uint32(d.mode.Perm()), MTime: d.mtime}
		})
		if err != nil {
			return nil, err
		}
		sent = append(sent, pending{id, w})
	}
	if _, err := c.Stat(ctx, "."); err != nil {
		if _, ok := err.(*Error); !ok {
			return nil, err
		}
	}
	errs = make([]error, len(dirs))
	for i, p := range sent {
		select {
		case msg := <-p.w.msgs:
			switch m := msg.(type) {
			case *wire.OK:
			case *wire.Reject:
				errs[i] = rejected(m, dirs[i].path)
			default:
				errs[i] = xfer.Errorf(CodeProtocolViolation, dirs[i].path, "unexpected %s", msg.Type())
			}
		default:
			errs[i] = xfer.Errorf(CodeInternal, dirs[i].path, "%v", errNoDirMeta)
		}
	}
	return errs, nil
}

// dirMetas is clientConn.dirMetas across reconnects.
func (s *Session) dirMetas(ctx context.Context, dirs []dirMeta) (errs []error, err error) {
	err = s.do(ctx, func(c *clientConn) error {
		var err error
		errs, err = c.dirMetas(ctx, dirs)
		return err
	})
	return errs, err
}

// missingDir reports whether err says the directory is not there (or is
// not a directory): it was never made because its files failed, each
// reported with its own cause, so it is not reported again.
func missingDir(err error) bool {
	return errors.Is(err, &Error{Code: CodeNotFound}) || errors.Is(err, &Error{Code: CodeNotDirectory})
}

// keepDirMeta sets the mode and mtime of every directory of dirs with
// set, deepest first (a directory's children first: their writes change
// its mtime, and a mode without write or search permission would stop
// them), unless ctx has ended. Each failure becomes a failed job, run
// through r so that it is reported like a file; they are returned. A
// directory that is not there on the receiving side (missingDir) is not
// reported again when a file of jobs below it failed: that file's failure
// says why.
func keepDirMeta(ctx context.Context, c *clientConn, r runner, dir Direction, jobs []*job, dirs []dirMeta, opts Options, set func([]dirMeta) ([]error, error)) []*job {
	if ctx.Err() != nil || len(dirs) == 0 {
		return nil
	}
	slices.SortStableFunc(dirs, func(a, b dirMeta) int {
		return strings.Count(b.path, "/") - strings.Count(a.path, "/")
	})
	errs, err := set(dirs)
	var failed []*job
	for i, d := range dirs {
		e := err
		if e == nil {
			e = errs[i]
		}
		if e != nil && !(missingDir(e) && failedBelow(jobs, d.path)) {
			failed = append(failed, c.failedJob(dir, d.path, "", e))
		}
	}
	if len(failed) > 0 {
		r.run(ctx, failed, opts, dir == Pull)
	}
	return failed
}

// failedBelow reports whether a job below directory p (its path on the
// remote side) failed.
func failedBelow(jobs []*job, p string) bool {
	for _, j := range jobs {
		ti := j.t.Info()
		if ti.State == Failed && strings.HasPrefix(ti.Path, p+"/") {
			return true
		}
	}
	return false
}

// setLocalDirMeta is the setter of keepDirMeta for a pull into root.
func setLocalDirMeta(root *os.Root) func([]dirMeta) ([]error, error) {
	return func(dirs []dirMeta) ([]error, error) {
		errs := make([]error, len(dirs))
		for i, d := range dirs {
			errs[i] = xfer.SetDirMeta(root, d.path, d.mode, d.mtime)
		}
		return errs, nil
	}
}

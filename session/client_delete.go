package session

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/qxfer/qxfer/session/internal/xfer"
)

// extraneous lists, deepest first, what Options.Delete removes from the
// destination of t: every entry t.dest holds and the source does not
// (t.have), everything inside a directory so found included. Only a
// tree whose destination is a directory has any.
func extraneous(dir Direction, t *syncTree) []Action {
	if !t.dir || t.dest["."].kind != KindDir {
		return nil
	}
	var acts []Action
	for rel, d := range t.dest {
		if rel == "." || t.have[rel] {
			continue
		}
		acts = append(acts, Action{Kind: ActionDelete, Dir: dir, Path: joinPath(t.top, rel), IsDir: d.kind == KindDir, IsLink: d.kind == KindSymlink, Reason: "not in the source"})
	}
	slices.SortFunc(acts, func(a, b Action) int {
		if c := cmp.Compare(depth(b.Path), depth(a.Path)); c != 0 {
			return c
		}
		return cmp.Compare(a.Path, b.Path)
	})
	return acts
}

func depth(p string) int { return strings.Count(p, "/") }

// deleteConcurrency bounds the removals of one depth in flight.
const deleteConcurrency = 16

// deleteExtraneous runs Options.Delete once the files of a batch have
// moved: nothing when any of jobs failed or was cancelled (a partial run
// deletes nothing) or when there are more deletions than MaxDelete
// (rep.DeleteErr says so); otherwise it removes every extraneous entry
// with remove, deepest first, the entries of one depth concurrently. It
// returns what it deleted and a failed job for each removal that
// failed. A directory that is not empty after its listed entries went
// (it holds excluded entries, or something new) is kept, with a notice.
func deleteExtraneous(ctx context.Context, c *clientConn, dir Direction, jobs []*job, trees []*syncTree, opts Options, rep *Report, remove func(ctx context.Context, p string, isDir bool) error) []*job {
	for _, j := range jobs {
		if s := j.t.Info().State; s == Failed || s == Cancelled {
			c.log.Warn().Msg("not deleting anything: files of this run failed")
			return nil
		}
	}
	var acts []Action
	for _, t := range trees {
		acts = append(acts, extraneous(dir, t)...)
	}
	if len(acts) == 0 {
		return nil
	}
	if opts.MaxDelete > 0 && len(acts) > opts.MaxDelete {
		rep.DeleteErr = fmt.Errorf("%w: %d to delete, --max-delete is %d", ErrMaxDelete, len(acts), opts.MaxDelete)
		return nil
	}
	slices.SortStableFunc(acts, func(a, b Action) int { return cmp.Compare(depth(b.Path), depth(a.Path)) })
	var (
		mu     sync.Mutex
		failed []*job
	)
	for len(acts) > 0 {
		n := 1
		for n < len(acts) && depth(acts[n].Path) == depth(acts[0].Path) {
			n++
		}
		level := acts[:n]
		acts = acts[n:]
		sem := make(chan struct{}, deleteConcurrency)
		var wg sync.WaitGroup
		for _, a := range level {
			if ctx.Err() != nil {
				break
			}
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				err := remove(ctx, a.Path, a.IsDir)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					rep.Actions = append(rep.Actions, a)
				case a.IsDir && notEmpty(err):
					c.log.Warn().Str("path", a.Path).Msg("not deleting a directory that still holds entries (excluded ones, or new ones)")
				default:
					j := c.failedJob(dir, a.Path, "", err)
					endJob(j, err, opts, c.log)
					failed = append(failed, j)
				}
			})
		}
		wg.Wait()
	}
	slices.SortFunc(rep.Actions, func(a, b Action) int { return cmp.Compare(a.Path, b.Path) })
	return failed
}

// notEmpty reports whether err says a directory is not empty, from the
// server (CodeNotEmpty) or the local file system.
func notEmpty(err error) bool {
	return errors.Is(err, &Error{Code: CodeNotEmpty}) || errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST)
}

// removeLocal removes p under root: a file, a link (never what it
// points to) or an empty directory.
func removeLocal(root *os.Root) func(ctx context.Context, p string, isDir bool) error {
	return func(_ context.Context, p string, _ bool) error {
		if err := root.Remove(p); err != nil {
			if notEmpty(err) {
				return err
			}
			return xfer.AsError(err, p)
		}
		return nil
	}
}

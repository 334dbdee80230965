package session

import (
	"context"

	"github.com/qxfer/qxfer/session/internal/xfer"
)

// linkTargets reads link targets for a dry run: src of a job's source
// link, dst of the link at a destination path. Either returns an error
// when the target cannot be read.
type linkTargets struct {
	src func(ctx context.Context, j *job) (string, error)
	dst func(ctx context.Context, p string) (string, error)
}

// jobDest is the destination path of a job: the remote path of a push,
// the local path (under the local root) of a pull.
func jobDest(dir Direction, j *job) string {
	if dir == Pull {
		return j.t.Local
	}
	return j.t.Path
}

// classify decides what the batch would do with job j, whose
// destination is described by t (nil when it was not indexed), by the
// rules the receiver applies (xfer.CheckDest and placeLink): an absent
// destination is sent; a regular file of the same size and mtime, or a
// link to the same target, is up to date; with Update a destination
// newer than the source is skipped; anything else that differs is
// replaced with Force or Delete and refused as CodeExists without; with
// Checksum the content (j.content) decides instead of the times; a
// directory or other non-regular destination is refused as
// CodeNotRegular.
func classify(ctx context.Context, dir Direction, j *job, t *syncTree, opts Options, lt linkTargets) Action {
	p := jobDest(dir, j)
	a := Action{Dir: dir, Path: p, Source: j.t.Path, IsLink: j.link, Size: int64(j.meta.Size)}
	if dir == Push {
		a.Source = j.t.Local
	}
	fail := func(err error) Action {
		a.Kind, a.Err, a.Reason = ActionFail, xfer.AsError(err, p), xfer.AsError(err, p).Msg
		return a
	}
	if j.preErr != nil {
		return fail(j.preErr)
	}
	var d destEntry
	var ok bool
	if t != nil {
		d, ok = t.dest[relTo(t.top, p)]
	}
	force := opts.Force || opts.Delete
	switch {
	case !ok:
		a.Kind, a.Reason = ActionSend, "new"
		return a
	case d.kind == KindDir:
		return fail(xfer.Errorf(CodeNotRegular, p, "destination exists and is a directory"))
	case j.link:
		if d.kind == KindSymlink {
			st, err1 := j.target, error(nil)
			if lt.src != nil {
				st, err1 = lt.src(ctx, j)
			}
			dt, err2 := lt.dst(ctx, p)
			if err1 == nil && err2 == nil && st == dt {
				a.Kind, a.Reason = ActionUpToDate, "same link"
				return a
			}
		}
		if !force {
			return fail(xfer.Errorf(CodeExists, p, "destination exists and differs (use --force to overwrite)"))
		}
		a.Kind, a.Reason = ActionUpdate, "link differs"
		return a
	case d.kind != KindFile:
		return fail(xfer.Errorf(CodeNotRegular, p, "destination exists and is not a regular file"))
	case opts.Update && d.mtime.After(j.meta.MTime):
		a.Kind, a.Reason = ActionSkipNewer, "newer on the destination"
		return a
	case j.content == contentSame:
		a.Kind, a.Reason = ActionUpToDate, "same checksum"
		return a
	case j.content == contentDiffers && !force:
		return fail(xfer.Errorf(CodeExists, p, "the destination already exists and its content differs (use --force to overwrite)"))
	case j.content == contentDiffers:
		a.Kind, a.Reason = ActionUpdate, "checksum differs"
		return a
	case uint64(d.size) == j.meta.Size && d.mtime.Equal(j.meta.MTime):
		a.Kind, a.Reason = ActionUpToDate, "same size and modification time"
		return a
	case !force:
		return fail(xfer.Errorf(CodeExists, p, "the destination already exists and differs (use --force to overwrite)"))
	case uint64(d.size) != j.meta.Size:
		a.Kind, a.Reason = ActionUpdate, "size differs"
	default:
		a.Kind, a.Reason = ActionUpdate, "modification time differs"
	}
	return a
}

// dryRun ends every job of a batch as classify finds it, without running
// any: a job that would fail ends Failed with its reason, the others
// Skipped. It returns the listing, the deletions of Options.Delete last.
func dryRun(ctx context.Context, c *clientConn, dir Direction, jobs []*job, trees []*syncTree, opts Options, lt linkTargets) []Action {
	var acts []Action
	for _, j := range jobs {
		a := classify(ctx, dir, j, treeOf(trees, jobDest(dir, j)), opts, lt)
		acts = append(acts, a)
		if a.Kind == ActionFail {
			endJob(j, a.Err, Options{}, c.log)
		} else {
			endJob(j, &Error{Code: CodeUpToDate, Path: j.t.Path}, Options{}, c.log)
		}
	}
	if opts.Delete {
		for _, t := range trees {
			acts = append(acts, extraneous(dir, t)...)
		}
	}
	return acts
}

// skipNewer applies Options.Update before a real run: a file whose
// destination is newer than its source ends Skipped without a request.
func skipNewer(dir Direction, jobs []*job, trees []*syncTree) {
	for _, j := range jobs {
		if d, ok := destFile(dir, j, trees); ok && d.mtime.After(j.meta.MTime) {
			j.preErr = &Error{Code: CodeUpToDate, Path: jobDest(dir, j), Msg: "newer on the destination"}
		}
	}
}

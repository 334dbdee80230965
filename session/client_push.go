package session

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/qxfer/qxfer/session/internal/xfer"
)

// push is the batch of Push.
func push(sources []string, remoteDir string, opts Options) batchFunc {
	return func(ctx context.Context, c *clientConn, r runner, start time.Time) (*Report, error) {
		dir, err := cleanPath(remoteDir)
		if err != nil {
			return nil, err
		}
		opts, ds := pushOptions(opts)
		if streamable(sources, opts, localBase) {
			targets := make([]string, len(sources))
			for i, src := range sources {
				targets[i] = joinPath(dir, filepath.ToSlash(localBase(src)))
			}
			return pushStream(ctx, c, r, start, sources, targets, dir, opts)
		}
		var jobs []*job
		var emptyDirs []string
		var metas []dirMeta
		var trees []*syncTree
		for _, src := range sources {
			target := joinPath(dir, filepath.ToSlash(localBase(src)))
			tree := opts.newTree(target)
			js, dirs, ms := c.pushJobs(src, target, opts, tree)
			jobs = append(jobs, js...)
			emptyDirs = append(emptyDirs, dirs...)
			metas = append(metas, ms...)
			trees = appendTree(trees, tree)
		}
		if dir != "." {
			emptyDirs = append([]string{dir}, emptyDirs...)
		}
		jobs = dedupe(jobs)
		ds.plan(jobs, metas)
		return runPush(ctx, c, r, start, jobs, emptyDirs, metas, trees, opts)
	}
}

// pushOptions is opts normalised for one push batch, with the batch's
// own destination states (Options.dest).
func pushOptions(opts Options) (Options, *destStates) {
	opts = opts.normal()
	ds := &destStates{}
	opts.dest = ds
	return opts, ds
}

// runPush runs the jobs of a push: it creates the directories that no
// file creates, pushes the files, then sets the directories' modes and
// mtimes, and reports every file and every directory that failed.
//
// With trees (Options.DryRun, Delete, Update) it first lists each
// tree's remote destination; a dry run then only classifies (nothing is
// written), Update skips what is newer there, and Delete removes what
// the source does not hold once the files have arrived, before the
// directories' mtimes are set.
func runPush(ctx context.Context, c *clientConn, r runner, start time.Time, jobs []*job, emptyDirs []string, metas []dirMeta, trees []*syncTree, opts Options) (*Report, error) {
	for _, t := range trees {
		if err := c.indexRemote(ctx, t, opts); err != nil {
			return nil, fmt.Errorf("list the destination %s: %w", t.top, err)
		}
	}
	if opts.Checksum {
		compareContent(ctx, c, Push, jobs, trees, opts, hashLocalSource(ctx))
	}
	if opts.DryRun {
		acts := dryRun(ctx, c, Push, jobs, trees, opts, linkTargets{dst: c.Readlink})
		rep := report(jobs, start)
		rep.DryRun, rep.Actions = true, acts
		return rep, nil
	}
	if opts.Update {
		skipNewer(Push, jobs, trees)
	}
	skipIndexed(Push, jobs, trees, opts)
	skipSameContent(Push, jobs)
	for _, d := range emptyDirs {
		if err := r.Mkdir(ctx, d); err != nil {
			return nil, err
		}
	}
	r.run(ctx, jobs, opts, false)
	rep := &Report{}
	if opts.Delete && ctx.Err() == nil {
		jobs = append(jobs, deleteExtraneous(ctx, c, Push, jobs, trees, opts, rep, c.Remove)...)
	}
	if !opts.Delete {
		metas = opts.dest.keepChangedDirs(ctx, c, jobs, metas)
	}
	jobs = append(jobs, keepDirMeta(ctx, c, r, Push, jobs, metas, opts, func(dirs []dirMeta) ([]error, error) {
		return r.dirMetas(ctx, dirs)
	})...)
	return report(jobs, start).with(rep), nil
}

// pushFile is the batch of PushFile.
func pushFile(local, remotePath string, opts Options) batchFunc {
	return func(ctx context.Context, c *clientConn, r runner, start time.Time) (*Report, error) {
		rp, err := cleanPath(remotePath)
		if err != nil {
			return nil, err
		}
		opts, ds := pushOptions(opts)
		if streamable([]string{local}, opts, func(string) string { return path.Base(rp) }) {
			// A tree pushed under a new name streams as one pushed
			// into a directory does (issue 17: the kernel's tree held
			// 229 MB of jobs on the client).
			return pushStream(ctx, c, r, start, []string{local}, []string{rp}, ".", opts)
		}
		tree := opts.newTree(rp)
		jobs, emptyDirs, metas := c.pushJobs(local, rp, opts, tree)
		ds.plan(jobs, metas)
		return runPush(ctx, c, r, start, jobs, emptyDirs, metas, appendTree(nil, tree), opts)
	}
}

// localBase is the name a local source keeps on the other side: its last
// element, or, for ".", ".." and "/", the name of the directory it is.
func localBase(src string) string {
	base := filepath.Base(filepath.Clean(src))
	if abs, err := filepath.Abs(src); err == nil && (base == "." || base == ".." || base == string(filepath.Separator)) {
		base = filepath.Base(abs)
	}
	return base
}

// pushJobs lists the files to push for one source, which lands as target
// (a clean remote path: the file itself, or the directory holding the
// source directory's contents), the directories to create that no file
// creates, and the mode and mtime of every directory of its tree, to set
// once the files are written. A source named here is followed when it is
// a symlink; links inside a tree follow opts.Links.
//
// tree, if not nil, learns every entry the walk keeps (for Delete) and
// whether the source is a tree.
func (c *clientConn) pushJobs(src, target string, opts Options, tree *syncTree) ([]*job, []string, []dirMeta) {
	return c.walkSource(src, target, opts, tree, nil)
}

// walkSource is pushJobs, handing the jobs to feed instead when it is
// not nil (they are then not returned).
func (c *clientConn) walkSource(src, target string, opts Options, tree *syncTree, feed *walkFeed) ([]*job, []string, []dirMeta) {
	w := &pushWalk{c: c, opts: opts, top: target, tree: tree, feed: feed}
	switch fi, err := os.Stat(src); {
	case err != nil:
		w.fail(target, src, xfer.AsError(err, src))
	case !fi.IsDir():
		w.file(src, target, fi)
	case !opts.Recursive:
		w.fail(target, src, xfer.Errorf(CodeNotRegular, src, "is a directory (use -r)"))
	default:
		if tree != nil {
			tree.dir = true
		}
		w.dir(src, target, fi)
	}
	return w.jobs, w.dirs, w.metas
}

func (c *clientConn) putJob(local, remote string, fi fs.FileInfo, opts Options) *job {
	t := newTransfer(c.newJobID(), Push, remote, local, fi.Size(), nil)
	meta := xfer.MetaOf(fi)
	pj := putJob{local: local, remote: remote, force: opts.Force, noResume: opts.NoResume, whole: opts.WholeFile, limit: opts.RateLimit, dest: opts.dest, walked: meta}
	j := &job{t: t, key: remote, src: local, srcID: fileIDOf(fi), small: fi.Size() <= smallFile, meta: meta}
	if err := checkWireName(local, remote); err != nil {
		j.preErr = err
	} else if _, err := cleanPath(remote); err != nil {
		j.preErr = err
	}
	j.quick = !opts.Checksum // -c compares contents, not sizes and mtimes
	j.run = func(ctx context.Context, c *clientConn, t *Transfer, s *slot) error {
		return xfer.RetryFromZero(func(noResume bool) error {
			pj := pj
			pj.noResume = pj.noResume || noResume
			pj.noQuickCheck = j.content == contentDiffers
			return c.runPut(ctx, t, pj, s)
		})
	}
	return j
}

// failedJob is a file that failed before any request was sent for it:
// remote is its remote path (where it was bound, or where it comes from),
// local its local one ("" when not known yet).
func (c *clientConn) failedJob(dir Direction, remote, local string, err error) *job {
	return &job{t: newTransfer(c.newJobID(), dir, remote, local, 0, nil), preErr: err}
}

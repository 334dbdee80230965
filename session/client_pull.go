package session

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/qxfer/qxfer/session/internal/xfer"
)

// pull is the batch of Pull, and of PullFile when name is set: the
// sources land in the local directory dir, each under its own name, or
// (the one source of a PullFile) as name.
func pull(sources []string, dir, name string, opts Options) batchFunc {
	return func(ctx context.Context, c *clientConn, r runner, start time.Time) (*Report, error) {
		opts := opts.normal()
		root, release, err := c.openLocal(dir, opts)
		if err != nil {
			return nil, err
		}
		defer release()
		base := baseName
		if name != "" {
			base = func(string) string { return name }
		}
		if streamable(sources, opts, base) {
			return pullStream(ctx, c, r, start, root, dir, sources, name, opts)
		}
		var jobs []*job
		var metas []dirMeta
		var trees []*syncTree
		for _, src := range sources {
			tree := opts.newTree("")
			js, ms, err := c.pullJobs(ctx, root, src, name, opts, tree)
			if err != nil {
				return nil, err
			}
			jobs = append(jobs, js...)
			metas = append(metas, ms...)
			trees = appendTree(trees, tree)
		}
		return runPull(ctx, c, r, start, root, dir, dedupe(jobs), metas, trees, opts)
	}
}

// splitLocal splits the local target of a PullFile into the directory
// that receives it and the name it takes there.
func splitLocal(localPath string) (dir, name string) {
	dir, name = filepath.Split(filepath.Clean(localPath))
	if dir == "" {
		dir = "."
	}
	return dir, name
}

// openLocal opens the local directory dir of a pull (openLocalRoot) and
// holds it among c's local directories until release is called.
func (c *clientConn) openLocal(dir string, opts Options) (root *os.Root, release func(), err error) {
	root, err = openLocalRoot(dir, opts)
	if err != nil || root == nil {
		return nil, func() {}, err
	}
	forget := c.local.open(root)
	return root, func() {
		forget()
		root.Close()
	}, nil
}

// openLocalRoot opens the local directory dir of a pull, creating it if
// missing; a dry run creates nothing and gets a nil root for a missing
// dir (every file is then new).
func openLocalRoot(dir string, opts Options) (*os.Root, error) {
	if opts.DryRun {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	return root, nil
}

// runPull pulls the files of jobs into root (the local directory dir),
// then sets the modes and mtimes of the directories it made, and reports
// every file and every directory that failed. With trees it works as
// runPush does: it indexes each local destination first, then does a
// dry run, Update's skips and Delete's removals (local ones).
func runPull(ctx context.Context, c *clientConn, r runner, start time.Time, root *os.Root, dir string, jobs []*job, metas []dirMeta, trees []*syncTree, opts Options) (*Report, error) {
	for _, t := range trees {
		if err := indexLocal(root, t, opts); err != nil {
			return nil, fmt.Errorf("list the destination %s: %w", filepath.Join(dir, filepath.FromSlash(t.top)), err)
		}
	}
	if opts.Checksum && root != nil {
		compareContent(ctx, c, Pull, jobs, trees, opts, hashLocalDest(ctx, root))
	}
	if opts.DryRun {
		lt := linkTargets{
			src: func(ctx context.Context, j *job) (string, error) { return c.Readlink(ctx, j.t.Path) },
			dst: func(_ context.Context, p string) (string, error) { return root.Readlink(p) },
		}
		acts := localActions(dir, dryRun(ctx, c, Pull, jobs, trees, opts, lt))
		rep := report(jobs, start)
		rep.DryRun, rep.Actions = true, acts
		return rep, nil
	}
	if opts.Update {
		skipNewer(Pull, jobs, trees)
	}
	skipSameContent(Pull, jobs)
	r.run(ctx, jobs, opts, true)
	rep := &Report{}
	if opts.Delete && ctx.Err() == nil {
		jobs = append(jobs, deleteExtraneous(ctx, c, Pull, jobs, trees, opts, rep, removeLocal(root))...)
		rep.Actions = localActions(dir, rep.Actions)
	}
	jobs = append(jobs, keepDirMeta(ctx, c, r, Pull, jobs, metas, opts, setLocalDirMeta(root))...)
	return report(jobs, start).with(rep), nil
}

// localActions names the destinations of a pull's actions as local
// paths: dir joined with their path under it.
func localActions(dir string, acts []Action) []Action {
	for i := range acts {
		acts[i].Path = filepath.Join(dir, filepath.FromSlash(acts[i].Path))
	}
	return acts
}

// pullJobs stats one remote source and, for a directory, walks it. The
// source lands in root as local (a file, or the directory holding the
// source directory's contents); "" means under the source's own name. It
// returns the files to pull and the mode and mtime of every directory of
// the tree, to set once the files are written.
//
// tree, if not nil, learns where the source lands, whether it is a tree
// and every entry the walk keeps.
func (c *clientConn) pullJobs(ctx context.Context, root *os.Root, src, local string, opts Options, tree *syncTree) ([]*job, []dirMeta, error) {
	rp, err := cleanPath(strings.TrimLeft(src, "/"))
	if err != nil {
		return []*job{c.failedJob(Pull, src, "", err)}, nil, nil
	}
	e, err := c.Stat(ctx, rp)
	if err != nil {
		if _, ok := err.(*Error); ok {
			return []*job{c.failedJob(Pull, rp, "", err)}, nil, nil
		}
		return nil, nil, err
	}
	if local == "" {
		local = baseName(rp)
		if local == "." && !e.IsDir() {
			local = e.Name
		}
	}
	if tree != nil {
		tree.top, tree.dir = local, e.IsDir() && opts.Recursive
	}
	switch {
	case e.IsDir() && !opts.Recursive:
		return []*job{c.failedJob(Pull, rp, "", xfer.Errorf(CodeNotRegular, rp, "is a directory (use -r)"))}, nil, nil
	case e.IsDir():
		return c.walkRemote(ctx, root, remoteDir{rp, local, e.Mode, e.MTime}, opts, tree)
	case e.Kind != KindFile:
		return []*job{c.failedJob(Pull, rp, "", remoteNotRegular(e, rp))}, nil, nil
	}
	return []*job{c.getJob(root, rp, local, e, opts)}, nil, nil
}

// listConcurrency bounds the List requests of one tree level in flight.
const listConcurrency = 16

// remoteDir is a directory of a pulled tree, with its mode and mtime.
type remoteDir struct {
	remote, local string
	mode          fs.FileMode
	mtime         time.Time
}

// walkRemote lists the remote tree top breadth first. The directories of
// one level are listed concurrently (the requests are pipelined on the
// command channel), so a tree costs about one round trip per level. It
// returns the files to pull and the metadata of the directories it made
// (the local root "." keeps its own).
//
// A dry run creates no directory; tree, if not nil, learns every entry
// the filter keeps.
func (c *clientConn) walkRemote(ctx context.Context, root *os.Root, top remoteDir, opts Options, tree *syncTree) ([]*job, []dirMeta, error) {
	if opts.feed != nil {
		return c.walkRemoteStream(ctx, root, top, opts, tree)
	}
	var jobs []*job
	var metas []dirMeta
	level := []remoteDir{top}
	for len(level) > 0 {
		names := make([]string, len(level))
		for i, d := range level {
			names[i] = d.remote
		}
		lists, errs := c.listLevel(ctx, names)
		var next []remoteDir
		for i, d := range level {
			sub, meta, err := c.pullDir(ctx, root, top, d, lists[i], errs[i], opts, tree, func(j *job) { jobs = append(jobs, j) })
			if err != nil {
				return nil, nil, err
			}
			if meta != nil {
				metas = append(metas, *meta)
			}
			next = append(next, sub...)
		}
		level = next
	}
	return jobs, metas, nil
}

// pullDir adds (with add) the jobs of one listed directory d of the
// remote tree top, whose listing is ents or failed with listErr, and
// returns its subdirectories to walk and the metadata to set on it once
// its files are written (nil for the local root "." or a directory not
// made). err is a failure of the session itself.
func (c *clientConn) pullDir(ctx context.Context, root *os.Root, top, d remoteDir, ents []Entry, listErr error, opts Options, tree *syncTree, add func(*job)) (next []remoteDir, meta *dirMeta, err error) {
	// A directory the server refuses to list (a symlink loop among
	// them) is not created.
	if listErr != nil {
		if _, ok := listErr.(*Error); ok {
			add(c.failedJob(Pull, d.remote, d.local, listErr))
			return nil, nil, nil
		}
		return nil, nil, listErr
	}
	if d.local != "." && !opts.DryRun {
		if err := xfer.MkdirAll(root, d.local, 0o755); err != nil {
			add(c.failedJob(Pull, d.remote, d.local, err))
			return nil, nil, nil
		}
		meta = &dirMeta{path: d.local, mode: d.mode, mtime: d.mtime}
	}
	for _, e := range ents {
		name, err := cleanName(e.Name)
		if err != nil {
			add(c.failedJob(Pull, joinPath(d.remote, truncate(e.Name)), "", err))
			continue
		}
		r, l := joinPath(d.remote, name), joinPath(d.local, name)
		if opts.Filter.Excluded(relTo(top.remote, r), e.Kind == KindDir && !(opts.Links == LinksCopy && e.Linked)) {
			// Excluded: an excluded directory is never listed.
			continue
		}
		tree.add(l)
		switch {
		case opts.Links == LinksCopy && (e.Linked || e.Kind == KindSymlink):
			add(c.pullLinkJob(root, r, l, opts))
		case e.Kind == KindDir && e.Linked && opts.Links != LinksFollow:
			c.log.Warn().Str("path", r).Msg("skipping a symlink to a directory (-L follows it)")
		case e.Kind == KindDir:
			next = append(next, remoteDir{r, l, e.Mode, e.MTime})
		case e.Kind == KindFile:
			add(c.getJob(root, r, l, e, opts))
		case e.Kind == KindSymlink:
			add(c.failedJob(Pull, r, l, c.brokenLink(ctx, r)))
		default:
			add(c.failedJob(Pull, r, l, xfer.Errorf(CodeNotRegular, r, "a FIFO, socket or device")))
		}
	}
	return next, meta, nil
}

// brokenLink is the failure of a remote symlink that the server could not
// follow, with its real cause: the server's answer to a Stat of it
// (not_found for a dangling link, symlink_loop, invalid_path for one that
// is absolute or leads out of the served tree).
func (c *clientConn) brokenLink(ctx context.Context, r string) error {
	_, err := c.Stat(ctx, r)
	var e *Error
	if errors.As(err, &e) {
		return xfer.WithPath(e, r)
	}
	return xfer.Errorf(CodeNotRegular, r, "a symlink that cannot be followed")
}

// localKey is the transfer-table key of a pull into local under root:
// the absolute local path, so that two batches of one Session (two gets
// of the shell) writing different directories never share a key, and two
// writing one file always do.
func localKey(root *os.Root, local string) string {
	if root == nil {
		return local // a dry run into a directory not made yet
	}
	p := filepath.Join(root.Name(), filepath.FromSlash(local))
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

func (c *clientConn) getJob(root *os.Root, remote, local string, e Entry, opts Options) *job {
	t := newTransfer(c.newJobID(), Pull, remote, local, e.Size, nil)
	gj := getJob{remote: remote, local: local, root: root, meta: xfer.FileMeta{Size: uint64(e.Size), Mode: e.Mode, MTime: e.MTime}, force: opts.Force, noResume: opts.NoResume, whole: opts.WholeFile, limit: opts.RateLimit,
		dirs: c.local.of(root), durable: &c.local.durable}
	j := &job{t: t, key: localKey(root, local), src: remote, small: e.Size <= smallFile, meta: gj.meta}
	j.run = func(ctx context.Context, c *clientConn, t *Transfer, _ *slot) error {
		return xfer.RetryFromZero(func(noResume bool) error {
			gj := gj
			gj.noResume = gj.noResume || noResume
			gj.noQuickCheck = j.content == contentDiffers
			return c.runGet(ctx, t, gj)
		})
	}
	return j
}

// remoteNotRegular is the refusal of a remote entry that is not a regular file,
// before any Get is sent for it.
func remoteNotRegular(e Entry, rp string) error {
	if e.IsDir() {
		return xfer.Errorf(CodeNotRegular, rp, "a directory")
	}
	if e.Kind == KindSymlink {
		return xfer.Errorf(CodeNotRegular, rp, "a symlink")
	}
	return xfer.Errorf(CodeNotRegular, rp, "a FIFO, socket or device")
}

package session

import (
	"context"
	"sync"
	"time"
)

// streamable reports whether a batch of sources is walked into a
// walkFeed, so that a big tree is streamed (client_stream.go): a
// recursive push or pull whose files need nothing from the rest of the
// batch. Not with Options.DryRun, Delete, Update or Checksum, which
// compare the whole tree with the destination's (their batches are still
// collected), nor when two sources land under one name (base gives the
// name a source keeps: localBase for a push, baseName for a pull), which
// dedupe compares.
func streamable(sources []string, opts Options, base func(string) string) bool {
	if !opts.Recursive || opts.syncing() {
		return false
	}
	seen := make(map[string]bool, len(sources))
	for _, src := range sources {
		b := base(src)
		if b == "." || seen[b] {
			return false
		}
		seen[b] = true
	}
	return true
}

// pushStream is push for a streamable batch: each source lands as the
// clean remote path of the same index in targets, and dir (a clean
// remote directory, "." for none) is made if no file makes it. Its walk
// runs on a goroutine of its own, ahead of the transfers by at most
// streamAhead files. A walk that ends within them
// runs as a collected batch does (runPush); a longer one runs its files
// as they come, each let go once ended (opts.tally), then makes the
// empty directories and sets the modes and mtimes of the directories
// that changed or differ (keepChangedDirsOf: a no-op push of the kernel
// tree sent 5,760 DirMeta that changed nothing). What it
// keeps per directory (mode, mtime, and whether to list it for the
// up-to-date check) stays for the whole batch: a few dozen bytes per
// directory, not per file.
func pushStream(ctx context.Context, c *clientConn, r runner, start time.Time, sources, targets []string, dir string, opts Options) (*Report, error) {
	feed := newWalkFeed(opts)
	var (
		emptyDirs []string
		metas     []dirMeta
		walk      sync.WaitGroup
	)
	if dir != "." {
		emptyDirs = append(emptyDirs, dir)
	}
	walk.Go(func() {
		for i, src := range sources {
			_, ds, ms := c.walkSource(src, targets[i], opts, nil, feed)
			emptyDirs = append(emptyDirs, ds...)
			metas = append(metas, ms...)
		}
		feed.end()
	})
	h := <-feed.head
	if !h.more {
		walk.Wait()
		jobs := dedupe(h.jobs)
		opts.dest.plan(jobs, metas)
		return runPush(ctx, c, r, start, jobs, emptyDirs, metas, nil, opts)
	}
	tl := &tally{}
	opts.tally, opts.Plan = tl, nil // Found has reported the files
	r.runFrom(ctx, &retryJobs{lost: h.jobs, rest: feed}, opts, false)
	walk.Wait() // the source is drained: the walk has ended
	if ctx.Err() == nil {
		for _, d := range emptyDirs {
			if err := r.Mkdir(ctx, d); err != nil {
				return nil, err
			}
		}
	}
	metas = opts.dest.keepChangedDirsOf(ctx, c, tl.changedDirs(), metas)
	keepDirMeta(ctx, c, r, Push, tl.jobs(), metas, opts, func(dirs []dirMeta) ([]error, error) {
		return r.dirMetas(ctx, dirs)
	})
	return tl.report(start), nil
}

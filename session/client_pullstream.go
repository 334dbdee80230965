package session

import (
	"context"
	"os"
	"sync"
	"time"
)

// pullStream is pull for a streamable batch into root (the local
// directory dir; the one source lands as name when name is set, as in
// pull), as pushStream is push: the remote tree is listed a
// directory at a time on a goroutine of its own (walkRemoteStream), at
// most streamAhead files ahead of the transfers. A failure of the
// session while it lists fails the batch, as it does before any file
// starts (a Session runs it again once reconnected: the files already
// pulled are then up to date).
func pullStream(ctx context.Context, c *clientConn, r runner, start time.Time, root *os.Root, dir string, sources []string, name string, opts Options) (*Report, error) {
	feed := newWalkFeed(opts)
	var (
		metas   []dirMeta
		walkErr error
		walk    sync.WaitGroup
	)
	wopts := opts
	wopts.feed = feed
	walk.Go(func() {
		defer feed.end()
		for _, src := range sources {
			js, ms, err := c.pullJobs(ctx, root, src, name, wopts, nil)
			if err != nil {
				walkErr = err
				return
			}
			for _, j := range js {
				feed.add(j)
			}
			metas = append(metas, ms...)
		}
	})
	h := <-feed.head
	if !h.more {
		walk.Wait()
		if walkErr != nil {
			return nil, walkErr
		}
		return runPull(ctx, c, r, start, root, dir, dedupe(h.jobs), metas, nil, opts)
	}
	tl := &tally{}
	opts.tally, opts.Plan = tl, nil // Found has reported the files
	r.runFrom(ctx, &retryJobs{lost: h.jobs, rest: feed}, opts, true)
	walk.Wait() // the source is drained: the walk has ended
	if walkErr != nil {
		return nil, walkErr
	}
	keepDirMeta(ctx, c, r, Pull, tl.jobs(), metas, opts, setLocalDirMeta(root))
	return tl.report(start), nil
}

// walkRemoteStream is walkRemote for a streamed pull (opts.feed): it
// lists the tree breadth first, in the same order, but keeps
// listConcurrency listings in flight at all times instead of a whole
// level at once, and hands each directory's jobs to the feed as its
// listing comes (waiting while the feed is full). It holds the listings
// in flight and the directories still to list, not the tree's files. It
// returns the metadata of the directories it made.
func (c *clientConn) walkRemoteStream(ctx context.Context, root *os.Root, top remoteDir, opts Options, tree *syncTree) ([]*job, []dirMeta, error) {
	type listing struct {
		d    remoteDir
		ents []Entry
		err  error
		done chan struct{}
	}
	var (
		metas  []dirMeta
		queue  = []remoteDir{top}
		window []*listing
		wg     sync.WaitGroup
	)
	defer wg.Wait()
	lctx, cancel := context.WithCancel(ctx)
	defer cancel() // a fatal error: the listings in flight end
	for len(queue) > 0 || len(window) > 0 {
		for len(window) < listConcurrency && len(queue) > 0 {
			l := &listing{d: queue[0], done: make(chan struct{})}
			queue[0] = remoteDir{}
			queue = queue[1:]
			window = append(window, l)
			wg.Go(func() {
				defer close(l.done)
				l.ents, l.err = c.List(lctx, l.d.remote)
			})
		}
		l := window[0]
		window[0] = nil
		window = window[1:]
		<-l.done
		sub, meta, err := c.pullDir(ctx, root, top, l.d, l.ents, l.err, opts, tree, opts.feed.add)
		if err != nil {
			return nil, nil, err
		}
		if meta != nil {
			metas = append(metas, *meta)
		}
		queue = append(queue, sub...)
	}
	return nil, metas, nil
}

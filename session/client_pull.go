package session

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/qxfer/qxfer/session/internal/xfer"
)

// Pull downloads remote files (and, with opts.Recursive, directory trees)
// into the local directory localDir, created if missing. Every write goes
// through an os.Root on localDir, so a server cannot place a file outside
// it whatever names it sends. Per-file outcomes are in the report.
func (c *clientConn) Pull(ctx context.Context, sources []string, localDir string, opts Options) (*Report, error) {
	return pull(ctx, c, c, sources, localDir, opts)
}

// Pull is clientConn.Pull across reconnects.
func (s *Session) Pull(ctx context.Context, sources []string, localDir string, opts Options) (*Report, error) {
	return s.batch(ctx, func(c *clientConn) (*Report, error) { return pull(ctx, c, s, sources, localDir, opts) })
}

func pull(ctx context.Context, c *clientConn, r runner, sources []string, localDir string, opts Options) (*Report, error) {
	start := time.Now()
	ctx, done := batchContext(ctx)
	defer done()
	if err := os.MkdirAll(localDir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", localDir, err)
	}
	root, err := os.OpenRoot(localDir)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", localDir, err)
	}
	defer root.Close()
	var jobs []*job
	for _, src := range sources {
		js, err := c.pullJobs(ctx, root, src, "", opts)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, js...)
	}
	r.run(ctx, jobs, opts, true)
	return report(jobs, start), nil
}

// PullFile downloads one remote source to exactly localPath, the way cp
// and scp write a single source under the target's name (the shell's
// "get REMOTE LOCAL", and pull when the target is not a directory): a
// regular file becomes the file localPath, a directory (with
// opts.Recursive) becomes the directory localPath, holding the remote
// directory's contents. The parent directories of localPath are created;
// every write goes through an os.Root on the parent.
func (c *clientConn) PullFile(ctx context.Context, remotePath, localPath string, opts Options) (*Report, error) {
	return pullFile(ctx, c, c, remotePath, localPath, opts)
}

// PullFile is clientConn.PullFile across reconnects.
func (s *Session) PullFile(ctx context.Context, remotePath, localPath string, opts Options) (*Report, error) {
	return s.batch(ctx, func(c *clientConn) (*Report, error) { return pullFile(ctx, c, s, remotePath, localPath, opts) })
}

func pullFile(ctx context.Context, c *clientConn, r runner, remotePath, localPath string, opts Options) (*Report, error) {
	start := time.Now()
	ctx, done := batchContext(ctx)
	defer done()
	dir, name := filepath.Split(filepath.Clean(localPath))
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	defer root.Close()
	jobs, err := c.pullJobs(ctx, root, remotePath, name, opts)
	if err != nil {
		return nil, err
	}
	r.run(ctx, jobs, opts, true)
	return report(jobs, start), nil
}

// pullJobs stats one remote source and, for a directory, walks it. The
// source lands in root as local (a file, or the directory holding the
// source directory's contents); "" means under the source's own name.
func (c *clientConn) pullJobs(ctx context.Context, root *os.Root, src, local string, opts Options) ([]*job, error) {
	rp, err := cleanPath(strings.TrimLeft(src, "/"))
	if err != nil {
		return []*job{c.failedJob(Pull, src, err)}, nil
	}
	e, err := c.Stat(ctx, rp)
	if err != nil {
		if _, ok := err.(*Error); ok {
			return []*job{c.failedJob(Pull, rp, err)}, nil
		}
		return nil, err
	}
	if local == "" {
		local = baseName(rp)
		if local == "." && !e.IsDir() {
			local = e.Name
		}
	}
	switch {
	case e.IsDir() && !opts.Recursive:
		return []*job{c.failedJob(Pull, rp, xfer.Errorf(CodeNotRegular, rp, "is a directory (use -r)"))}, nil
	case e.IsDir():
		return c.walkRemote(ctx, root, rp, local, opts)
	}
	return []*job{c.getJob(root, rp, local, e, opts)}, nil
}

// listConcurrency bounds the List requests of one tree level in flight.
const listConcurrency = 16

// remoteDir is a directory of a pulled tree.
type remoteDir struct{ remote, local string }

// walkRemote lists a remote tree breadth first. The directories of one
// level are listed concurrently (the requests are pipelined on the command
// channel), so a tree costs about one round trip per level.
func (c *clientConn) walkRemote(ctx context.Context, root *os.Root, rp, local string, opts Options) ([]*job, error) {
	var jobs []*job
	level := []remoteDir{{rp, local}}
	for len(level) > 0 {
		type listing struct {
			ents []Entry
			err  error
		}
		results := make([]listing, len(level))
		sem := make(chan struct{}, listConcurrency)
		var wg sync.WaitGroup
		for i, d := range level {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				results[i].ents, results[i].err = c.List(ctx, d.remote)
			})
		}
		wg.Wait()
		var next []remoteDir
		for i, d := range level {
			if d.local != "." {
				if err := xfer.MkdirAll(root, d.local, 0o755); err != nil {
					jobs = append(jobs, c.failedJob(Pull, d.remote, err))
					continue
				}
			}
			if err := results[i].err; err != nil {
				if _, ok := err.(*Error); ok {
					jobs = append(jobs, c.failedJob(Pull, d.remote, err))
					continue
				}
				return nil, err
			}
			for _, e := range results[i].ents {
				name, err := cleanName(e.Name)
				if err != nil {
					jobs = append(jobs, c.failedJob(Pull, joinPath(d.remote, truncate(e.Name)), err))
					continue
				}
				r, l := joinPath(d.remote, name), joinPath(d.local, name)
				switch e.Kind {
				case KindDir:
					next = append(next, remoteDir{r, l})
				case KindFile:
					jobs = append(jobs, c.getJob(root, r, l, e, opts))
				default:
					jobs = append(jobs, c.failedJob(Pull, r, xfer.Errorf(CodeNotRegular, r, "not a regular file")))
				}
			}
		}
		level = next
	}
	return jobs, nil
}

func (c *clientConn) getJob(root *os.Root, remote, local string, e Entry, opts Options) *job {
	t := newTransfer(c.newJobID(), Pull, remote, local, e.Size, nil)
	gj := getJob{remote: remote, local: local, root: root, meta: xfer.FileMeta{Size: uint64(e.Size), Mode: e.Mode, MTime: e.MTime}, force: opts.Force, noResume: opts.NoResume, limit: opts.RateLimit}
	return &job{t: t, key: local, small: e.Size <= smallFile, run: func(ctx context.Context, c *clientConn, t *Transfer, _ *slot) error {
		return xfer.RetryFromZero(func(noResume bool) error {
			gj := gj
			gj.noResume = gj.noResume || noResume
			return c.runGet(ctx, t, gj)
		})
	}}
}

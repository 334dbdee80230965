package session

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Pull downloads remote files (and, with opts.Recursive, directory trees)
// into the local directory localDir, created if missing. Every write goes
// through an os.Root on localDir, so a server cannot place a file outside
// it whatever names it sends. Per-file outcomes are in the report.
func (c *Client) Pull(ctx context.Context, sources []string, localDir string, opts Options) (*Report, error) {
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
		js, err := c.pullJobs(ctx, root, src, opts)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, js...)
	}
	return c.runJobs(ctx, jobs, opts, true), nil
}

// pullJobs stats one remote source and, for a directory, walks it.
func (c *Client) pullJobs(ctx context.Context, root *os.Root, src string, opts Options) ([]*job, error) {
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
	base := baseName(rp)
	if !e.IsDir() {
		if base == "." {
			base = e.Name
		}
		return []*job{c.getJob(root, rp, base, e, opts)}, nil
	}
	if !opts.Recursive {
		return []*job{c.failedJob(Pull, rp, errorf(CodeNotRegular, rp, "is a directory (use -r)"))}, nil
	}
	local := base
	if rp == "." {
		local = "."
	}
	var jobs []*job
	// Breadth-first walk; each directory is one List round trip.
	type dir struct{ remote, local string }
	queue := []dir{{rp, local}}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		if err := root.MkdirAll(d.local, 0o755); err != nil && d.local != "." {
			jobs = append(jobs, c.failedJob(Pull, d.remote, asError(err, d.local)))
			continue
		}
		ents, err := c.List(ctx, d.remote)
		if err != nil {
			if _, ok := err.(*Error); ok {
				jobs = append(jobs, c.failedJob(Pull, d.remote, err))
				continue
			}
			return nil, err
		}
		for _, e := range ents {
			name, err := cleanName(e.Name)
			if err != nil {
				jobs = append(jobs, c.failedJob(Pull, joinPath(d.remote, truncate(e.Name)), err))
				continue
			}
			r, l := joinPath(d.remote, name), joinPath(d.local, name)
			switch e.Kind {
			case KindDir:
				queue = append(queue, dir{r, l})
			case KindFile:
				jobs = append(jobs, c.getJob(root, r, l, e, opts))
			default:
				jobs = append(jobs, c.failedJob(Pull, r, errorf(CodeNotRegular, r, "not a regular file")))
			}
		}
	}
	return jobs, nil
}

func (c *Client) getJob(root *os.Root, remote, local string, e Entry, opts Options) *job {
	t := newTransfer(c.newJobID(), Pull, remote, local, e.Size, nil)
	gj := getJob{remote: remote, local: local, root: root, meta: fileMeta{Size: uint64(e.Size), Mode: e.Mode, MTime: e.MTime}, force: opts.Force}
	return &job{t: t, key: local, small: e.Size <= smallFile, run: func(ctx context.Context, t *Transfer, _ func()) error {
		return c.runGet(ctx, t, gj)
	}}
}

// PullFile downloads one remote regular file to exactly localPath (the
// shell's "get REMOTE LOCAL"); the local parent directory must exist.
func (c *Client) PullFile(ctx context.Context, remotePath, localPath string, opts Options) (*Report, error) {
	rp, err := cleanPath(strings.TrimLeft(remotePath, "/"))
	if err != nil {
		return nil, err
	}
	dir, name := filepath.Split(localPath)
	if dir == "" {
		dir = "."
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	defer root.Close()
	var j *job
	switch e, err := c.Stat(ctx, rp); {
	case err != nil:
		if _, ok := err.(*Error); !ok {
			return nil, err
		}
		j = c.failedJob(Pull, rp, err)
	case e.Kind != KindFile:
		j = c.failedJob(Pull, rp, errorf(CodeNotRegular, rp, "not a regular file"))
	default:
		j = c.getJob(root, rp, name, e, opts)
	}
	return c.runJobs(ctx, []*job{j}, opts, true), nil
}

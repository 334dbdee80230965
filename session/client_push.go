package session

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/qxfer/qxfer/session/internal/xfer"
)

// Push uploads local files (and, with opts.Recursive, directory trees) into
// the remote directory remoteDir, which is created if missing. A source
// directory "dir" lands as remoteDir/dir, as with scp -r. Per-file outcomes
// are in the report; the error is non-nil only when the batch could not
// run at all. Transfers cut off by a lost connection fail; a Session
// resumes them instead.
func (c *clientConn) Push(ctx context.Context, sources []string, remoteDir string, opts Options) (*Report, error) {
	return push(ctx, c, c, sources, remoteDir, opts)
}

// Push is clientConn.Push across reconnects.
func (s *Session) Push(ctx context.Context, sources []string, remoteDir string, opts Options) (*Report, error) {
	return s.batch(ctx, func(c *clientConn) (*Report, error) { return push(ctx, c, s, sources, remoteDir, opts) })
}

func push(ctx context.Context, c *clientConn, r runner, sources []string, remoteDir string, opts Options) (*Report, error) {
	start := time.Now()
	ctx, done := batchContext(ctx)
	defer done()
	dir, err := cleanPath(remoteDir)
	if err != nil {
		return nil, err
	}
	var jobs []*job
	var emptyDirs []string
	for _, src := range sources {
		js, dirs := c.pushJobs(src, joinPath(dir, filepath.ToSlash(localBase(src))), opts)
		jobs = append(jobs, js...)
		emptyDirs = append(emptyDirs, dirs...)
	}
	if dir != "." {
		emptyDirs = append([]string{dir}, emptyDirs...)
	}
	for _, d := range emptyDirs {
		if err := r.Mkdir(ctx, d); err != nil {
			return nil, err
		}
	}
	r.run(ctx, jobs, opts, false)
	return report(jobs, start), nil
}

// PushFile uploads one local source to exactly remotePath, the way cp
// and scp write a single source under the target's name (the shell's
// "put LOCAL REMOTE", and push when the target is not a directory): a
// regular file becomes the file remotePath, a directory (with
// opts.Recursive) becomes the directory remotePath, holding the
// directory's contents. Parent directories are created.
func (c *clientConn) PushFile(ctx context.Context, local, remotePath string, opts Options) (*Report, error) {
	return pushFile(ctx, c, c, local, remotePath, opts)
}

// PushFile is clientConn.PushFile across reconnects.
func (s *Session) PushFile(ctx context.Context, local, remotePath string, opts Options) (*Report, error) {
	return s.batch(ctx, func(c *clientConn) (*Report, error) { return pushFile(ctx, c, s, local, remotePath, opts) })
}

func pushFile(ctx context.Context, c *clientConn, r runner, local, remotePath string, opts Options) (*Report, error) {
	start := time.Now()
	ctx, done := batchContext(ctx)
	defer done()
	rp, err := cleanPath(remotePath)
	if err != nil {
		return nil, err
	}
	jobs, emptyDirs := c.pushJobs(local, rp, opts)
	for _, d := range emptyDirs {
		if err := r.Mkdir(ctx, d); err != nil {
			return nil, err
		}
	}
	r.run(ctx, jobs, opts, false)
	return report(jobs, start), nil
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
// source directory's contents), and the empty directories to create.
func (c *clientConn) pushJobs(src, target string, opts Options) ([]*job, []string) {
	fi, err := os.Stat(src)
	if err != nil {
		return []*job{c.failedJob(Push, src, xfer.AsError(err, src))}, nil
	}
	if !fi.IsDir() {
		if !fi.Mode().IsRegular() {
			return []*job{c.failedJob(Push, src, xfer.Errorf(CodeNotRegular, src, "not a regular file"))}, nil
		}
		return []*job{c.putJob(src, target, fi, opts)}, nil
	}
	if !opts.Recursive {
		return []*job{c.failedJob(Push, src, xfer.Errorf(CodeNotRegular, src, "is a directory (use -r)"))}, nil
	}
	var jobs []*job
	var empty []string
	filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		rel, rerr := filepath.Rel(src, p)
		if rerr != nil {
			return nil
		}
		remote := joinPath(target, filepath.ToSlash(rel))
		if err != nil {
			jobs = append(jobs, c.failedJob(Push, p, xfer.AsError(err, p)))
			return nil
		}
		if d.IsDir() {
			if ents, err := os.ReadDir(p); err == nil && len(ents) == 0 {
				empty = append(empty, remote)
			}
			return nil
		}
		fi, err := os.Stat(p) // follows symlinks to files, like scp
		switch {
		case err != nil:
			jobs = append(jobs, c.failedJob(Push, p, xfer.AsError(err, p)))
		case fi.Mode().IsRegular():
			jobs = append(jobs, c.putJob(p, remote, fi, opts))
		default:
			jobs = append(jobs, c.failedJob(Push, p, xfer.Errorf(CodeNotRegular, p, "not a regular file (symlinked directories are not followed)")))
		}
		return nil
	})
	return jobs, empty
}

func (c *clientConn) putJob(local, remote string, fi fs.FileInfo, opts Options) *job {
	t := newTransfer(c.newJobID(), Push, remote, local, fi.Size(), nil)
	pj := putJob{local: local, remote: remote, force: opts.Force, noResume: opts.NoResume, limit: opts.RateLimit}
	j := &job{t: t, key: remote, small: fi.Size() <= smallFile}
	if _, err := cleanPath(remote); err != nil {
		j.preErr = err
	}
	j.run = func(ctx context.Context, c *clientConn, t *Transfer, s *slot) error {
		return xfer.RetryFromZero(func(noResume bool) error {
			pj := pj
			pj.noResume = pj.noResume || noResume
			return c.runPut(ctx, t, pj, s)
		})
	}
	return j
}

func (c *clientConn) failedJob(dir Direction, p string, err error) *job {
	return &job{t: newTransfer(c.newJobID(), dir, p, p, 0, nil), preErr: err}
}

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
		js, dirs := c.pushJobs(src, dir, opts)
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
	jobs = dedupe(jobs)
	r.run(ctx, jobs, opts, false)
	return report(jobs, start), nil
}

// PushFile uploads one local regular file to exactly remotePath (the
// shell's "put LOCAL REMOTE"); its parent directories are created.
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
	var j *job
	switch fi, err := os.Stat(local); {
	case err != nil:
		j = c.failedJob(Push, rp, local, xfer.AsError(err, local))
	case !fi.Mode().IsRegular():
		j = c.failedJob(Push, rp, local, localNotRegular(fi, local))
	default:
		j = c.putJob(local, rp, fi, opts)
	}
	jobs := []*job{j}
	r.run(ctx, jobs, opts, false)
	return report(jobs, start), nil
}

// pushJobs lists the files to push for one source, and the directories
// to create that no file creates. A source named here is followed when it
// is a symlink; links inside a tree follow opts.Links.
func (c *clientConn) pushJobs(src, dir string, opts Options) ([]*job, []string) {
	base := filepath.Base(filepath.Clean(src))
	if abs, err := filepath.Abs(src); err == nil && (base == "." || base == ".." || base == string(filepath.Separator)) {
		base = filepath.Base(abs)
	}
	remote := joinPath(dir, filepath.ToSlash(base))
	w := &pushWalk{c: c, opts: opts}
	switch fi, err := os.Stat(src); {
	case err != nil:
		w.fail(remote, src, xfer.AsError(err, src))
	case !fi.IsDir():
		w.file(src, remote, fi)
	case !opts.Recursive:
		w.fail(remote, src, xfer.Errorf(CodeNotRegular, src, "is a directory (use -r)"))
	default:
		w.dir(src, remote, fi)
	}
	return w.jobs, w.dirs
}

func (c *clientConn) putJob(local, remote string, fi fs.FileInfo, opts Options) *job {
	t := newTransfer(c.newJobID(), Push, remote, local, fi.Size(), nil)
	pj := putJob{local: local, remote: remote, force: opts.Force, noResume: opts.NoResume, limit: opts.RateLimit}
	j := &job{t: t, key: remote, src: local, srcInfo: fi, small: fi.Size() <= smallFile}
	if err := checkWireName(local, remote); err != nil {
		j.preErr = err
	} else if _, err := cleanPath(remote); err != nil {
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

// failedJob is a file that failed before any request was sent for it:
// remote is its remote path (where it was bound, or where it comes from),
// local its local one ("" when not known yet).
func (c *clientConn) failedJob(dir Direction, remote, local string, err error) *job {
	return &job{t: newTransfer(c.newJobID(), dir, remote, local, 0, nil), preErr: err}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/qxfer/qxfer/session"
)

// transfer starts the put or get (cmd) of args in the background, as job
// ID (the next one, given before anything is checked). Its error is a
// usage error; the transfer reports its own failures.
func (sh *shell) transfer(ctx context.Context, cmd string, args []word) error {
	dir, start, usage := session.Push, sh.startPut, "usage: put LOCAL [REMOTE]"
	if cmd == "get" {
		dir, start, usage = session.Pull, sh.startGet, "usage: get REMOTE [LOCAL]"
	}
	if len(args) < 1 || len(args) > 2 {
		return errors.New(usage)
	}
	sh.startJob(dir, args[0].lit, func(j *job) error { return start(ctx, j, args) })
	return nil
}

// startPut is put, an upload as job j. LOCAL may hold wildcards, matched
// in the local directory. A directory goes into REMOTE (default: the
// remote directory) recursively; so do several matches, REMOTE then
// having to be a directory; a single file goes to REMOTE if given (into
// it, if REMOTE is an existing directory or ends in "/").
func (sh *shell) startPut(ctx context.Context, j *job, args []word) error {
	ms, err := sh.localGlob(ctx, args[0])
	if err != nil {
		return err
	}
	locals := matchPaths(ms)
	if _, err := os.Stat(locals[0]); err != nil {
		return err
	}
	// cp and scp's rule (remoteIntoDir): into REMOTE when it is a
	// directory or ends in "/", else as REMOTE (put DIR NEWNAME copies
	// DIR as NEWNAME).
	dest, intoDir := sh.cwd, true
	if len(args) == 2 {
		dest = sh.remotePath(args[1].lit)
		if strings.HasSuffix(args[1].lit, "/") {
			dest += "/"
		}
		intoDir = remoteIntoDir(ctx, sh.c, dest, 1)
		if len(locals) > 1 && !intoDir {
			return fmt.Errorf("%d files match %s, but %s is not a remote directory", len(locals), args[0].lit, args[1].lit)
		}
		dest = trimRoot(dest)
	}
	// Completion will list the destination again.
	sh.forget(dest)
	sh.forget(path.Dir(dest))
	sh.background(j, func(opts session.Options) (*session.Report, error) {
		if intoDir {
			return sh.c.Push(ctx, locals, dest, opts)
		}
		return sh.c.PushFile(ctx, locals[0], dest, opts)
	})
	return nil
}

// startGet is get, a download as job j into the local directory or to
// LOCAL. REMOTE may hold wildcards, matched against the server's
// listing; several matches go into LOCAL, which must then be a
// directory.
func (sh *shell) startGet(ctx context.Context, j *job, args []word) error {
	ms, err := sh.remoteGlob(ctx, args[0])
	if err != nil {
		return err
	}
	remotes := matchPaths(ms)
	if ms[0].ent == nil {
		if _, err := sh.c.Stat(ctx, remotes[0]); err != nil {
			return err
		}
	}
	// The same rule for a local target (localIntoDir).
	dest, intoDir := sh.lcwd, true
	if len(args) == 2 {
		dest = sh.localPath(args[1].lit)
		if strings.HasSuffix(args[1].lit, "/") {
			dest += string(filepath.Separator)
		}
		intoDir = localIntoDir(dest, 1)
		if len(remotes) > 1 && !intoDir {
			return fmt.Errorf("%d files match %s, but %s is not a local directory", len(remotes), args[0].lit, args[1].lit)
		}
	}
	sh.background(j, func(opts session.Options) (*session.Report, error) {
		if intoDir {
			return sh.c.Pull(ctx, remotes, dest, opts)
		}
		return sh.c.PullFile(ctx, remotes[0], dest, opts)
	})
	return nil
}

// startJob starts a transfer as a new job of direction dir named name:
// start begins it in the background; when start fails, the job ends at
// once with that error as its outcome.
func (sh *shell) startJob(dir session.Direction, name string, start func(j *job) error) {
	j := sh.newJob(dir, name)
	if err := start(j); err != nil {
		sh.finishJob(j, err)
	}
}

// matchPaths returns the paths of ms, in order.
func matchPaths(ms []match) []string {
	paths := make([]string, len(ms))
	for i, m := range ms {
		paths[i] = m.path
	}
	return paths
}

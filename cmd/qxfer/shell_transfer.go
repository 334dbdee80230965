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

// put starts an upload in the background, as job ID (the next one, given
// before anything is checked). LOCAL may hold wildcards, matched in the
// local directory. A directory goes into REMOTE (default: the remote
// directory) recursively; so do several matches, REMOTE then having to
// be a directory; a single file goes to REMOTE if given (into it, if
// REMOTE is an existing directory or ends in "/").
func (sh *shell) put(ctx context.Context, args []word) error {
	if len(args) < 1 || len(args) > 2 {
		return errors.New("usage: put LOCAL [REMOTE]")
	}
	sh.startJob(session.Push, args[0].lit, func(j *job) error { return sh.startPut(ctx, j, args) })
	return nil
}

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

// get starts a download in the background, as job ID (the next one),
// into the local directory or to LOCAL. REMOTE may hold wildcards,
// matched against the server's listing; several matches go into LOCAL,
// which must then be a directory.
func (sh *shell) get(ctx context.Context, args []word) error {
	if len(args) < 1 || len(args) > 2 {
		return errors.New("usage: get REMOTE [LOCAL]")
	}
	sh.startJob(session.Pull, args[0].lit, func(j *job) error { return sh.startGet(ctx, j, args) })
	return nil
}

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

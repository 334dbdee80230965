package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/qxfer/qxfer/session"
)

// Destination names follow cp and scp (issue 14): the target of a copy is
// a directory when it exists as one, ends in "/", or there are several
// sources; otherwise the single source is written under the target's
// name (a file as that file, a directory, with -r, as that directory).
// push, pull and the shell's put and get all decide with these two
// functions.

// remoteIntoDir reports whether the remote target (as typed, after the
// host) of nsources sources is a directory to copy into. The server root
// ("", "/") always is; otherwise, unless the rule settles it first, it
// asks the server (stat, one round trip). A target that cannot be
// stat'ed (missing, refused) is not a directory: the copy then fails or
// succeeds under that name with the server's own reason.
//
// A directory created on the server between the stat and the upload
// makes the upload fail (the name exists as a directory); the server is
// not told "exactly this name" separately, because the put already names
// the final path exactly.
func remoteIntoDir(ctx context.Context, c *session.Session, target string, nsources int) bool {
	if nsources > 1 || strings.HasSuffix(target, "/") || trimRoot(target) == "." {
		return true
	}
	en, err := c.Stat(ctx, trimRoot(target))
	return err == nil && en.IsDir()
}

// localIntoDir is remoteIntoDir for a local target: ".", "..", a path
// ending in a separator and an existing directory (symlinks followed) are
// directories to copy into.
func localIntoDir(target string, nsources int) bool {
	if nsources > 1 || strings.HasSuffix(target, "/") || strings.HasSuffix(target, string(filepath.Separator)) {
		return true
	}
	switch filepath.Base(target) {
	case ".", "..":
		return true
	}
	fi, err := os.Stat(target)
	return err == nil && fi.IsDir()
}

package session

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/qxfer/qxfer/session/internal/xfer"
)

// Links says what a push or pull does with the symbolic links it meets
// inside a directory tree. One policy for both directions (issue 13, class
// 10); a link named on the command line is always followed, as cp -H and
// scp do.
type Links uint8

const (
	// LinksDefault follows links to regular files (the file's content
	// is sent under the link's name, as scp does) and skips links to
	// directories with a notice, as rsync without -l skips links. The
	// zero value.
	LinksDefault Links = iota
	// LinksFollow (-L/--copy-links) follows every link, into linked
	// directories too. A link to a directory that holds it (x -> .) is a
	// loop: it fails with CodeSymlinkLoop and is not descended into, so
	// a tree is never copied into itself.
	LinksFollow
	// LinksCopy (-l/--links) copies every link inside a tree as a link,
	// its target text unchanged, dangling ones too. A target that is
	// absolute or leads out of the tree it lives in is refused with
	// CodeInvalidPath, by the server (push) and by the client (pull).
	LinksCopy
)

// checkLinkTarget refuses, with CodeInvalidPath, a target for a link at
// the clean path p that is empty, absolute, not a clean slash-separated
// UTF-8 path, or leads out of the tree: followed from p's directory, it
// must stay inside the root (the rule os.Root applies when following).
func checkLinkTarget(p, target string) error {
	bad := func(why string) error {
		return xfer.Errorf(CodeInvalidPath, p, "link target %q: %s", truncate(target), why)
	}
	switch {
	case target == "":
		return bad("empty")
	case len(target) > maxPathLen || !utf8.ValidString(target) || strings.ContainsAny(target, "\x00\\"):
		return bad("not a valid path")
	case strings.HasPrefix(target, "/"):
		return bad("absolute (only relative links inside the tree are copied)")
	}
	if j := path.Join(path.Dir(p), target); j == ".." || strings.HasPrefix(j, "../") {
		return bad("leads out of the tree")
	}
	return nil
}

// placeLink makes p under root a symbolic link to target, creating its
// parent directories. An existing link with that target is up to date
// (an *Error with CodeUpToDate); anything else there is CodeExists unless
// force replaces it, and a directory is never replaced (CodeNotRegular).
func placeLink(root *os.Root, p, target string, force bool) error {
	if p == "." {
		return xfer.Errorf(CodeInvalidPath, p, "the root cannot be a link")
	}
	if err := checkLinkTarget(p, target); err != nil {
		return err
	}
	if dir := path.Dir(p); dir != "." {
		if err := xfer.MkdirAll(root, dir, 0o755); err != nil {
			return err
		}
	}
	fi, err := root.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return xfer.AsError(err, p)
	case fi.IsDir():
		return xfer.Errorf(CodeNotRegular, p, "destination exists and is a directory")
	default:
		if fi.Mode()&fs.ModeSymlink != 0 {
			if t, err := root.Readlink(p); err == nil && t == target {
				return &Error{Code: CodeUpToDate, Path: p}
			}
		}
		if !force {
			return xfer.Errorf(CodeExists, p, "destination exists and differs (use --force to overwrite)")
		}
		if err := root.Remove(p); err != nil {
			return xfer.AsError(err, p)
		}
	}
	if err := root.Symlink(target, p); err != nil {
		return xfer.AsError(err, p)
	}
	return nil
}

// localNotRegular refuses a local object that is not a regular file with
// CodeNotRegular, naming what it is; a directory is named by the caller.
func localNotRegular(fi fs.FileInfo, display string) error {
	m := fi.Mode()
	switch {
	case m.IsDir():
		return xfer.Errorf(CodeNotRegular, display, "a directory")
	case m&fs.ModeNamedPipe != 0:
		return xfer.Errorf(CodeNotRegular, display, "a named pipe (FIFO)")
	case m&fs.ModeSocket != 0:
		return xfer.Errorf(CodeNotRegular, display, "a socket")
	case m&fs.ModeDevice != 0:
		return xfer.Errorf(CodeNotRegular, display, "a device")
	case m&fs.ModeSymlink != 0:
		return xfer.Errorf(CodeNotRegular, display, "a symlink")
	}
	return xfer.Errorf(CodeNotRegular, display, "%s", m.Type())
}

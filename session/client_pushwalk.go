package session

import (
	"os"
	"path/filepath"

	"github.com/qxfer/qxfer/session/internal/xfer"
)

// pushWalk lists the files of one pushed source tree, following the
// link policy of its Options (see Links).
type pushWalk struct {
	c    *clientConn
	opts Options
	jobs []*job
	// dirs lists the remote directories to create before the files:
	// those that no file of the tree creates, such as an empty directory
	// or one whose only entries are skipped links.
	dirs []string
	// metas are the mode and mtime of every directory walked, to set
	// once the files are written.
	metas []dirMeta
	// made counts the jobs and directories that create their parent
	// directories on the server.
	made int
	// ancestors are the directories on the path being walked, for loop
	// detection when links to directories are followed.
	ancestors []os.FileInfo
	// top is the remote path the walked source lands as; Options.Filter
	// matches paths relative to it.
	top string
	// tree, if set, learns every entry the filter keeps (Options.Delete).
	tree *syncTree
	// feed, if set, takes the jobs as they are found instead of jobs (a
	// streamed push, client_stream.go).
	feed *walkFeed
}

// add adds one job of the walk.
func (w *pushWalk) add(j *job) {
	if w.feed != nil {
		w.feed.add(j)
		return
	}
	w.jobs = append(w.jobs, j)
}

// dir walks the local directory local (described by fi, its links
// followed), bound for remote.
func (w *pushWalk) dir(local, remote string, fi os.FileInfo) {
	for _, a := range w.ancestors {
		if os.SameFile(a, fi) {
			w.fail(remote, local, xfer.Errorf(CodeSymlinkLoop, local, "a symlink to a directory that holds it; not followed"))
			return
		}
	}
	if err := checkWireName(local, remote); err != nil {
		w.fail(remote, local, err)
		return
	}
	w.ancestors = append(w.ancestors, fi)
	w.metas = append(w.metas, dirMeta{path: remote, mode: fi.Mode().Perm(), mtime: fi.ModTime()})
	defer func() { w.ancestors = w.ancestors[:len(w.ancestors)-1] }()
	ents, err := os.ReadDir(local)
	if err != nil {
		w.fail(remote, local, xfer.AsError(err, local))
		return
	}
	if w.feed != nil {
		w.opts.dest.planDir(remote, ents)
	}
	before := w.made
	for _, d := range ents {
		w.entry(filepath.Join(local, d.Name()), joinPath(remote, filepath.ToSlash(d.Name())), d)
	}
	if w.made == before {
		w.dirs = append(w.dirs, remote)
		w.made++
	}
}

// excluded reports whether Options.Filter leaves out the entry bound for
// remote.
func (w *pushWalk) excluded(remote string, dir bool) bool {
	return w.opts.Filter.Excluded(relTo(w.top, remote), dir)
}

// entry adds one entry of a walked directory, unless Options.Filter
// leaves it out: an excluded directory is not read at all.
func (w *pushWalk) entry(local, remote string, d os.DirEntry) {
	link := d.Type()&os.ModeSymlink != 0
	if w.excluded(remote, d.IsDir() && !link) {
		return
	}
	w.tree.add(remote)
	if !link && !d.IsDir() && d.Type().IsRegular() {
		fi, err := d.Info()
		if err != nil {
			w.fail(remote, local, xfer.AsError(err, local))
			return
		}
		w.file(local, remote, fi)
		return
	}
	if d.Type()&os.ModeSymlink != 0 && w.opts.Links == LinksCopy {
		target, err := os.Readlink(local)
		if err != nil {
			w.fail(remote, local, xfer.AsError(err, local))
			return
		}
		w.add(w.c.pushLinkJob(local, remote, filepath.ToSlash(target), w.opts))
		w.made++
		return
	}
	fi, err := os.Stat(local) // follows a link
	switch {
	case err != nil:
		// A dangling link is not_found, a loop of links symlink_loop.
		w.fail(remote, local, xfer.AsError(err, local))
	case fi.IsDir() && d.Type()&os.ModeSymlink != 0 && w.opts.Links != LinksFollow:
		w.c.log.Warn().Str("path", local).Msg("skipping a symlink to a directory (-L follows it)")
	case fi.IsDir() && w.excluded(remote, true):
		// A followed link to a directory is matched as the directory.
	case fi.IsDir():
		w.dir(local, remote, fi)
	default:
		w.file(local, remote, fi)
	}
}

// file adds a regular file, or the refusal of anything else.
func (w *pushWalk) file(local, remote string, fi os.FileInfo) {
	if err := xfer.CheckRegular(fi, local); err != nil {
		// A FIFO, socket or device: refused before anything opens it
		// (opening a FIFO waits for a writer).
		w.fail(remote, local, err)
		return
	}
	j := w.c.putJob(local, remote, fi, w.opts)
	if j.preErr == nil {
		w.made++
	}
	w.add(j)
}

func (w *pushWalk) fail(remote, local string, err error) {
	w.add(w.c.failedJob(Push, remote, local, err))
}

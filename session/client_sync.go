package session

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/qxfer/qxfer/session/internal/xfer"
)

// syncTree is one source of a batch that keeps a destination in step
// (Options.DryRun, Delete, Update): where the source lands, what the
// source holds and what the destination held before the transfer.
type syncTree struct {
	// top is the destination of the source: a clean remote path for a
	// push, a clean path under the local root for a pull.
	top string
	// dir says the source is a directory (a tree); only a tree's
	// destination has entries to delete.
	dir bool
	// have holds the paths, relative to top, of every entry the source
	// tree holds and the filter keeps (files, directories, links,
	// entries that failed or were skipped): what --delete keeps.
	have map[string]bool
	// dest describes the destination by path relative to top ("." is
	// top itself); nil until indexed. An absent top leaves it empty.
	dest map[string]destEntry
}

// destEntry is one entry found at the destination.
type destEntry struct {
	kind  EntryKind // KindSymlink for a link, whatever it points to
	size  int64
	mtime time.Time
}

func newSyncTree(top string, dir bool) *syncTree {
	return &syncTree{top: top, dir: dir, have: map[string]bool{}}
}

// add records that the source holds the entry bound for p (a
// destination path under top).
func (t *syncTree) add(p string) {
	if t != nil {
		t.have[relTo(t.top, p)] = true
	}
}

// syncing reports whether a batch needs to know its destination before
// it runs.
func (o Options) syncing() bool { return o.DryRun || o.Delete || o.Update || o.Checksum }

// destFilter is the filter applied to a destination walk: excluded
// entries are kept out of the index (so never deleted, and an excluded
// directory never listed) unless DeleteExcluded asks for them to go.
func (o Options) destFilter() *Filter {
	if o.DeleteExcluded {
		return nil
	}
	return o.Filter
}

// indexRemote describes the remote destination of t: the entry at
// t.top and, for a tree, everything under it that the filter keeps,
// listed one level per round trip. Links are entries, never descended
// into. An absent top is an empty destination.
func (c *clientConn) indexRemote(ctx context.Context, t *syncTree, opts Options) error {
	t.dest = map[string]destEntry{}
	top, err := c.Stat(ctx, t.top)
	switch {
	case errors.Is(err, &Error{Code: CodeNotFound}):
		return nil
	case err != nil:
		return err
	}
	t.dest["."] = remoteDestEntry(top)
	if !t.dir || top.Kind != KindDir || top.Linked {
		return nil
	}
	flt := opts.destFilter()
	level := []string{t.top}
	for len(level) > 0 {
		lists, errs := c.listLevel(ctx, level)
		var next []string
		for i, d := range level {
			if errs[i] != nil {
				return errs[i]
			}
			for _, e := range lists[i] {
				name, err := cleanName(e.Name)
				if err != nil {
					return err
				}
				p := joinPath(d, name)
				de := remoteDestEntry(e)
				rel := relTo(t.top, p)
				if flt.Excluded(rel, de.kind == KindDir) {
					continue
				}
				t.dest[rel] = de
				if de.kind == KindDir {
					next = append(next, p)
				}
			}
		}
		level = next
	}
	return nil
}

// remoteDestEntry describes a listed remote entry; a link the server
// followed is still a link.
func remoteDestEntry(e Entry) destEntry {
	k := e.Kind
	if e.Linked {
		k = KindSymlink
	}
	return destEntry{kind: k, size: e.Size, mtime: e.MTime}
}

// indexLocal describes the local destination of t under root, as
// indexRemote does the remote one. A nil root (a dry run into a
// directory that does not exist yet) is an empty destination.
func indexLocal(root *os.Root, t *syncTree, opts Options) error {
	t.dest = map[string]destEntry{}
	if root == nil {
		return nil
	}
	fi, err := root.Lstat(t.top)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return xfer.AsError(err, t.top)
	}
	t.dest["."] = localDestEntry(fi)
	if !t.dir || !fi.IsDir() {
		return nil
	}
	flt := opts.destFilter()
	return fs.WalkDir(root.FS(), t.top, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return xfer.AsError(err, p)
		}
		if p == t.top {
			return nil
		}
		rel := relTo(t.top, p)
		if flt.Excluded(rel, d.IsDir()) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return xfer.AsError(err, p)
		}
		t.dest[rel] = localDestEntry(fi)
		return nil
	})
}

func localDestEntry(fi fs.FileInfo) destEntry {
	return destEntry{kind: KindOf(fi.Mode()), size: fi.Size(), mtime: fi.ModTime()}
}

// treeOf returns the tree of trees whose destination holds p, the
// destination path of a job, or nil.
func treeOf(trees []*syncTree, p string) *syncTree {
	var best *syncTree
	for _, t := range trees {
		if (p == t.top || t.top == "." || strings.HasPrefix(p, t.top+"/")) && (best == nil || len(t.top) > len(best.top)) {
			best = t
		}
	}
	return best
}

// destFile returns what the destination index of trees holds where job
// j (of a dir batch, not failed, not a link) is to land, when that is a
// regular file; ok is false otherwise, or when no tree indexes it.
func destFile(dir Direction, j *job, trees []*syncTree) (d destEntry, ok bool) {
	if j.preErr != nil || j.link {
		return destEntry{}, false
	}
	p := jobDest(dir, j)
	t := treeOf(trees, p)
	if t == nil {
		return destEntry{}, false
	}
	d, ok = t.dest[relTo(t.top, p)]
	return d, ok && d.kind == KindFile
}

// skipIndexed answers from the destination index of trees, before a
// real push runs, what the server would answer to an offer: a file whose
// destination is a regular file of its size and modification time (the
// quick check of xfer.CheckDest) ends Skipped as up to date without a
// request; with Checksum the content decides instead (skipSameContent).
// The batch's destStates then lists no directory of an indexed tree
// again: indexRemote listed each once, and every file left there is
// new or differs, so a second listing could skip none of them (issue
// 18's tree case listed each directory twice before). A tree whose
// destination is a link the server follows was not listed below its
// top, so its directories are still listed as before.
func skipIndexed(dir Direction, jobs []*job, trees []*syncTree, opts Options) {
	if len(trees) == 0 {
		return
	}
	var rest []*job
	for _, j := range jobs {
		d, ok := destFile(dir, j, trees)
		t := treeOf(trees, jobDest(dir, j))
		switch {
		case ok && !opts.Checksum && uint64(d.size) == j.meta.Size && d.mtime.Equal(j.meta.MTime):
			j.preErr = &Error{Code: CodeUpToDate, Path: jobDest(dir, j), Msg: "same size and modification time"}
		case t == nil || t.dest["."].kind == KindSymlink:
			rest = append(rest, j)
		}
	}
	if opts.dest != nil {
		opts.dest.plan(rest, nil)
	}
}

// normal applies what the options imply: Delete replaces what differs
// (Force), as rsync --delete runs do.
func (o Options) normal() Options {
	if o.Delete {
		o.Force = true
	}
	return o
}

// newTree returns the syncTree of a source landing as top, or nil when
// the batch does not need one.
func (o Options) newTree(top string) *syncTree {
	if !o.syncing() {
		return nil
	}
	return newSyncTree(top, false)
}

// appendTree appends t to trees unless it is nil.
func appendTree(trees []*syncTree, t *syncTree) []*syncTree {
	if t == nil {
		return trees
	}
	return append(trees, t)
}

// with adds what a sync pass found (deletions, DeleteErr) to r.
func (r *Report) with(s *Report) *Report {
	r.Actions, r.DeleteErr = s.Actions, s.DeleteErr
	return r
}

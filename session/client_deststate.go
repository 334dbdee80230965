package session

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"sync"
	"time"

	"github.com/qxfer/qxfer/session/internal/xfer"
)

// maxDestDirs bounds the directories a push remembers the listing of: a
// push walks its tree a directory at a time, so only those of the files
// taken ahead (listAheadJobs) and in flight (maxPipelined) are asked
// about again, at most one directory each. A listing is let go once all
// its files have looked at it, so what this holds is a few entries per
// file in that window.
const maxDestDirs = 2048

// minListFiles is how many files a push must bring into a directory for
// the directory to be listed first: one listing then replaces at least
// this many offers. Fewer files are offered one by one, as before, and a
// push of a few files into a big directory never lists it whole.
const minListFiles = 4

// DestState is what a push knows of a file's destination before it offers
// the file: whether something is there, and what (kind, size, mtime,
// whether it is a followed symlink). Known is false when the destination
// could not be listed (a write-only client, a listing refused): the
// server decides on the offer alone, as it always does in the end.
type DestState struct {
	Known  bool
	Exists bool
	Entry  Entry // when Exists: the entry as the server lists it
}

// UpToDate reports whether s is a regular file of meta's size and
// modification time: what the server's own check (xfer.CheckDest, rsync's
// quick check) would answer up to date, so the file need not be offered.
func (s DestState) UpToDate(meta xfer.FileMeta) bool {
	e := s.Entry
	return s.Known && s.Exists && e.Kind == KindFile && !e.Linked &&
		uint64(e.Size) == meta.Size && e.MTime.Equal(meta.MTime)
}

// destStates is a push batch's knowledge of its destination directories:
// each is listed at most once, in one exchange (names, sizes, mtimes)
// however many of its files are pushed, instead of a request per file.
// A push sets it in its Options (Options.dest); the zero value is empty.
type destStates struct {
	// mu guards the following fields.
	mu sync.Mutex
	// listed are the directories the push brings at least minListFiles
	// files into: set by plan before the files run, or by planDir as a
	// streamed walk reaches each directory.
	listed map[string]bool
	// want is how many files the push brings into each listed
	// directory: once that many have looked their state up, the
	// listing is let go (a tree of 1,000-file directories held 256
	// listings, 200 bytes a file).
	want  map[string]int
	dirs  map[string]*destDir
	order []string // listed directories, oldest first, for maxDestDirs
	// stamps are the mode and mtime of every directory a listing
	// showed (not a followed link), by remote path, kept after the
	// listing itself is forgotten: a directory that already has its
	// source's gets no DirMeta (keepChangedDirs).
	stamps  map[string]dirStamp
	stamped map[string]bool // the directories whose listing stamps holds
}

// dirStamp is a remote directory's permission bits and mtime.
type dirStamp struct {
	mode  fs.FileMode
	mtime time.Time
}

// destDir is one directory's listing, ready once its channel is closed.
type destDir struct {
	ready   chan struct{}
	left    int              // lookups to come before the listing is let go (guarded by destStates.mu)
	known   bool             // the listing answered
	entries map[string]Entry // by name; nil when the directory is missing
}

// destState returns what the server holds at remote, a clean path under
// its root, as listed by one List of remote's directory shared by every
// file of it (issue 17: a no-op push of the Linux kernel's tree asked
// 86,629 times, once per file; now 5,760 times, once per directory). A
// directory whose parent's listing lacks it is known missing without
// asking. It is the one function the push path calls to learn a file's
// destination state; ds nil is nothing known.
func (c *clientConn) destState(ctx context.Context, ds *destStates, remote string) DestState {
	if ds == nil {
		return DestState{}
	}
	dir, name := splitRemote(remote)
	ds.mu.Lock()
	listed := ds.listed[dir]
	ds.mu.Unlock()
	if !listed {
		return DestState{}
	}
	d := ds.dir(ctx, c, dir)
	ds.mu.Lock()
	ds.lookedLocked(dir, d)
	ds.mu.Unlock()
	return d.state(name)
}

// lookedLocked counts one file's lookup of d, the listing of dir: once
// every file of it has asked (destStates.want), the listing is let go.
func (ds *destStates) lookedLocked(dir string, d *destDir) {
	if d.left--; d.left == 0 && ds.dirs[dir] == d {
		delete(ds.dirs, dir)
	}
}

// state is what d, a ready listing, says of its entry name.
func (d *destDir) state(name string) DestState {
	if !d.known {
		return DestState{}
	}
	e, ok := d.entries[name]
	return DestState{Known: true, Exists: ok, Entry: e}
}

// upToDateNow reports whether the listing of remote's directory is at
// hand and shows remote up to date for a source of meta (rsync's quick
// check, as DestState.UpToDate), without waiting: false when the listing
// is not made or not ready yet, or says otherwise. Only a true answer
// counts as the file's lookup (destState's), so a file answered false
// looks its state up again when it runs, and counts then.
func (ds *destStates) upToDateNow(remote string, meta xfer.FileMeta) bool {
	return ds.upToDate(context.Background(), remote, meta, false)
}

// upToDateWait is upToDateNow, except that it waits for a listing that
// is under way (claimed: listDirOf started it) until it is ready or ctx
// ends; a listing nobody started is not made here. A push job waits
// this way before it runs (runJobs' waiting queue): a file its listing
// shows up to date then costs no transfer's context, table entry and
// stack (issue 17: 0.6 of the 2.5 CPU-s of a no-op push of the kernel
// tree went to running jobs that found their file up to date).
func (ds *destStates) upToDateWait(ctx context.Context, remote string, meta xfer.FileMeta) bool {
	return ds.upToDate(ctx, remote, meta, true)
}

func (ds *destStates) upToDate(ctx context.Context, remote string, meta xfer.FileMeta, wait bool) bool {
	if ds == nil || meta.MTime.IsZero() {
		return false
	}
	dir, name := splitRemote(remote)
	ds.mu.Lock()
	d, ok := ds.dirs[dir]
	listed := ds.listed[dir]
	ds.mu.Unlock()
	if !ok || !listed {
		return false
	}
	if wait {
		select {
		case <-d.ready:
		case <-ctx.Done():
			return false
		}
	}
	select {
	case <-d.ready: // fill has set known and entries
	default:
		return false
	}
	if !d.state(name).UpToDate(meta) {
		return false
	}
	ds.mu.Lock()
	ds.lookedLocked(dir, d)
	ds.mu.Unlock()
	return true
}

// plan counts the files jobs bring into each remote directory (a job's
// key is its remote path), and the directories of the tree (metas) into
// their parents, and marks those of at least minListFiles for listing.
func (ds *destStates) plan(jobs []*job, metas []dirMeta) {
	n, files := map[string]int{}, map[string]int{}
	for _, j := range jobs {
		if j.preErr == nil {
			n[path.Dir(j.key)]++
			files[path.Dir(j.key)]++
		}
	}
	for _, m := range metas {
		n[path.Dir(m.path)]++
	}
	ds.mu.Lock()
	defer ds.mu.Unlock()
	ds.listed, ds.want = map[string]bool{}, map[string]int{}
	for dir, k := range n {
		if k >= minListFiles {
			ds.listed[dir], ds.want[dir] = true, files[dir]
		}
	}
}

// planDir is plan for one directory of a streamed walk, remote, as the
// walk reaches it: it is listed if it holds any entry ents (files,
// links, and directories, whose listed mode and mtime spare them a
// DirMeta). Unlike plan, it lists a directory of fewer than minListFiles
// entries too: remote mirrors a directory of the source tree, as rsync's
// receiver scans every directory of a transfer, so its listing is about
// as long as the offers it replaces, one request instead of one per file
// (issue 17: a no-op push of the Linux kernel's tree offered the 3,008
// files of its small directories one by one, and sent 996 DirMetas for
// directories whose parent was not listed). Only directories listed
// stay in ds.listed: a few bytes each, not a few per file.
func (ds *destStates) planDir(remote string, ents []os.DirEntry) {
	if ds == nil {
		return
	}
	files := 0
	for _, e := range ents {
		if !e.IsDir() {
			files++
		}
	}
	if len(ents) == 0 {
		return
	}
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if ds.listed == nil {
		ds.listed, ds.want = map[string]bool{}, map[string]int{}
	}
	ds.listed[remote], ds.want[remote] = true, files
}

// dir returns the listing of dir, making it (or waiting for the call
// that makes it) the first time.
func (ds *destStates) dir(ctx context.Context, c *clientConn, dir string) *destDir {
	d, parent, mine := ds.claim(dir)
	if mine {
		ds.fill(ctx, c, dir, d, parent)
		return d
	}
	select {
	case <-d.ready:
	case <-ctx.Done():
		return &destDir{}
	}
	return d
}

// claim returns the entry of dir's listing. The first call for dir
// registers it, mine true: the caller makes the listing (fill), and
// parent is the entry of dir's parent, if any. Later calls get the same
// entry, to wait on.
func (ds *destStates) claim(dir string) (d, parent *destDir, mine bool) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if d, ok := ds.dirs[dir]; ok {
		return d, nil, false
	}
	d = &destDir{ready: make(chan struct{}), left: ds.want[dir]}
	if ds.dirs == nil {
		ds.dirs = make(map[string]*destDir)
	}
	ds.dirs[dir] = d
	ds.order = append(ds.order, dir)
	if len(ds.order) > maxDestDirs {
		delete(ds.dirs, ds.order[0])
		ds.order = ds.order[1:]
	}
	return d, ds.dirs[path.Dir(dir)], true
}

// fill makes the listing of dir into d, the entry claim gave the caller
// (parent: its parent's), and marks it ready.
func (ds *destStates) fill(ctx context.Context, c *clientConn, dir string, d, parent *destDir) {
	defer close(d.ready)
	isDir := dir == "." // the root is a directory
	if !isDir && parent != nil && parent != d {
		select {
		case <-parent.ready:
			if parent.known {
				e, ok := parent.entries[path.Base(dir)]
				if !ok {
					d.known = true // missing: so is every file in it
					return
				}
				// Anything but a directory: the server refuses its
				// files one by one, as before.
				isDir = e.Kind == KindDir
				if !isDir {
					return
				}
			}
		default:
		}
	}
	entries, err := c.List(ctx, dir)
	switch {
	case err == nil:
		if !isDir && len(entries) == 1 && entries[0].Name == path.Base(dir) {
			// A file lists as itself, just as a directory holding
			// one file of its own name lists that file: unknown.
			return
		}
		d.known, d.entries = true, make(map[string]Entry, len(entries))
		for _, e := range entries {
			d.entries[e.Name] = e
		}
		ds.stamp(dir, entries)
	case errors.Is(err, &Error{Code: CodeNotFound}):
		d.known = true
	}
}

// stamp records the directories among the entries of the listing of dir.
func (ds *destStates) stamp(dir string, entries []Entry) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if ds.stamped == nil {
		ds.stamped = make(map[string]bool)
	}
	ds.stamped[dir] = true
	for _, e := range entries {
		if e.Kind != KindDir || e.Linked {
			continue
		}
		if ds.stamps == nil {
			ds.stamps = make(map[string]dirStamp)
		}
		ds.stamps[joinPath(dir, e.Name)] = dirStamp{mode: e.Mode.Perm(), mtime: e.MTime}
	}
}

// keepChangedDirs returns the directories of metas that need their mode
// and mtime set after the batch's jobs have run: all but those a listing
// showed with that mode and mtime already and in which nothing changed
// (every job below them up to date, and every directory below them
// unchanged too: a file written, a .part made or a directory created
// changes the mtime of the directory holding it). A no-op push of the
// kernel tree sent 5,760 DirMeta requests that changed nothing. The
// parents planned for listing that no file's offer listed (they hold
// directories only) are listed now, listConcurrency at once. ds nil
// keeps them all.
func (ds *destStates) keepChangedDirs(ctx context.Context, c *clientConn, jobs []*job, metas []dirMeta) []dirMeta {
	var changed []string
	for _, j := range jobs {
		if j.t.Info().State != Skipped {
			changed = append(changed, path.Dir(j.key))
		}
	}
	return ds.keepChangedDirsOf(ctx, c, changed, metas)
}

// keepChangedDirsOf is keepChangedDirs given changed, the directories
// that hold a job that was not up to date (a streamed push keeps these,
// not its jobs: tally.changedDirs).
func (ds *destStates) keepChangedDirsOf(ctx context.Context, c *clientConn, changed []string, metas []dirMeta) []dirMeta {
	if ds == nil || len(metas) == 0 {
		return metas
	}
	touched := map[string]bool{}
	touch := func(p string) { // p's parent and its ancestors changed
		for p != "." && p != "" {
			p = path.Dir(p)
			if touched[p] {
				return
			}
			touched[p] = true
		}
	}
	for _, d := range changed {
		if d != "." && d != "" {
			touched[d] = true
			touch(d)
		}
	}
	// Only a directory in which nothing changed can be spared its
	// DirMeta, so only the parents of those are worth a listing: none
	// after a push into a new tree.
	var parents []string
	seen := map[string]bool{}
	ds.mu.Lock()
	for _, m := range metas {
		if p := path.Dir(m.path); !touched[m.path] && ds.listed[p] && !ds.stamped[p] && !seen[p] {
			seen[p] = true
			parents = append(parents, p)
		}
	}
	ds.mu.Unlock()
	sem := make(chan struct{}, listConcurrency)
	var wg sync.WaitGroup
	for _, p := range parents {
		if acquireCtx(ctx, sem) != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			ds.dir(ctx, c, p)
		})
	}
	wg.Wait()
	ds.mu.Lock()
	defer ds.mu.Unlock()
	same := func(m dirMeta) bool {
		st, ok := ds.stamps[m.path]
		return ok && st.mode == m.mode.Perm() && st.mtime.Equal(m.mtime)
	}
	for _, m := range metas {
		if !same(m) {
			touch(m.path) // maybe created now: its parent changed
		}
	}
	var keep []dirMeta
	for _, m := range metas {
		if touched[m.path] || !same(m) {
			keep = append(keep, m)
		}
	}
	return keep
}

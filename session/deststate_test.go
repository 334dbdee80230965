package session

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/qxfer/qxfer/certs"
	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/quicx"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// TestPushBulkUpToDate: a push learns what is up to date from one
// listing per directory and offers only the rest (the server sees no
// request for an up-to-date file); a changed file is still sent; a file
// standing where the push needs a directory is refused by the server,
// never taken as up to date; a client that may not list (write-only)
// gets the same verdicts from the server, file by file.
func TestPushBulkUpToDate(t *testing.T) {
	me, wo := newIdentity(t), newIdentity(t)
	ts := accessServer(t, ServerConfig{}, map[*certs.Identity]certs.ClientAccess{me: {}, wo: {WriteOnly: true}})
	c := dialAs(t, ts, me, ts.addr, quicx.Config{})
	ctx := testCtx(t)
	src := filepath.Join(t.TempDir(), "tree")
	for i := range 12 {
		testutil.WriteRandom(t, filepath.Join(src, fmt.Sprintf("f%02d", i)), 100+i)
		testutil.WriteRandom(t, filepath.Join(src, "sub", fmt.Sprintf("g%02d", i)), 200+i)
	}
	started := func() float64 {
		return valueIn(scrape(t, ts.srv), "qxfer_transfers_started_total", map[string]string{"direction": "push"})
	}
	rep, err := c.Push(ctx, []string{src}, "in", Options{Recursive: true})
	checkReport(t, "first push", rep, err, 24, Done)
	first := started()

	// Everything up to date but one file, given a newer mtime.
	changed := filepath.Join(src, "sub", "g03")
	if err := os.Chtimes(changed, time.Now(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	rep, err = c.Push(ctx, []string{src}, "in", Options{Recursive: true, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	var done, upToDate int
	for _, f := range rep.Files {
		switch {
		case f.State == Done && f.Path == "in/tree/sub/g03":
			done++
		case isUpToDate(f):
			upToDate++
		default:
			t.Errorf("second push: %s: got %s (%v), want up to date", f.Path, f.State, f.Err)
		}
	}
	if done != 1 || upToDate != 23 {
		t.Errorf("second push: got %d sent and %d up to date, want 1 and 23", done, upToDate)
	}
	if got := started() - first; got != 1 {
		t.Errorf("second push: the server saw %v transfers, want 1 (the changed file)", got)
	}
	got, err := os.ReadFile(filepath.Join(ts.root, "in", "tree", "sub", "g03"))
	if err != nil {
		t.Fatal(err)
	}
	testutil.SameFile(t, changed, got)

	// A file where the push needs a directory: the server refuses each
	// file under it, whatever the listing of the file looks like.
	blocker := filepath.Join(ts.root, "in", "tree2", "sub")
	testutil.WriteRandom(t, blocker, 10)
	if err := os.Rename(src, filepath.Join(filepath.Dir(src), "tree2")); err != nil {
		t.Fatal(err)
	}
	src = filepath.Join(filepath.Dir(src), "tree2")
	rep, err = c.Push(ctx, []string{src}, "in", Options{Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Files {
		if filepath.Dir(f.Path) == "in/tree2/sub" && (f.State == Done || isUpToDate(f)) {
			t.Errorf("push under a file: %s: got %s (%v), want refused", f.Path, f.State, f.Err)
		}
	}

	// The write-only client cannot list: the server decides each file.
	w := dialAs(t, ts, wo, ts.addr, quicx.Config{})
	rep, err = w.Push(ctx, []string{filepath.Join(ts.root, "in", "tree")}, "in", Options{Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Files {
		if !isUpToDate(f) {
			t.Errorf("write-only push: %s: got %s (%v), want up to date", f.Path, f.State, f.Err)
		}
	}
}

// isUpToDate reports whether f was skipped as up to date.
func isUpToDate(f TransferInfo) bool {
	return f.State == Skipped || (f.Err != nil && codeOfErr(f.Err) == CodeUpToDate)
}

// TestPushUpToDateUnopened: a file the walk saw with the size and mtime
// its destination's listing shows is up to date without being opened,
// as rsync trusts its file list: one removed after the walk is still up
// to date, while one the listing shows different is opened and, being
// gone, fails.
func TestPushUpToDateUnopened(t *testing.T) {
	ts, c := startWithClient(t)
	ctx := testCtx(t)
	src := filepath.Join(t.TempDir(), "tree")
	for i := range 6 {
		testutil.WriteRandom(t, filepath.Join(src, fmt.Sprintf("f%d", i)), 100+i)
	}
	rep, err := c.Push(ctx, []string{src}, ".", Options{Recursive: true})
	checkReport(t, "first push", rep, err, 6, Done)
	// f5's destination differs now (another mtime).
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(ts.root, "tree", "f5"), old, old); err != nil {
		t.Fatal(err)
	}
	gone := func([]TransferInfo) {
		for i := range 6 {
			if err := os.Remove(filepath.Join(src, fmt.Sprintf("f%d", i))); err != nil {
				t.Error(err)
			}
		}
	}
	rep, err = c.Push(ctx, []string{src}, ".", Options{Recursive: true, Force: true, Plan: gone})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Files {
		switch want := f.Path != "tree/f5"; {
		case want && !isUpToDate(f):
			t.Errorf("%s: got %s (%v), want up to date without opening it", f.Path, f.State, f.Err)
		case !want && f.State != Failed:
			t.Errorf("%s: got %s (%v), want failed (it was opened, and is gone)", f.Path, f.State, f.Err)
		}
	}
}

// TestPushUnchangedDirs: a push sets no mode and mtime on a destination
// directory its parent's listing shows with the source's already, when
// nothing below it changed; it still does where they differ, and on the
// directory of a file sent again, whose mtime the write changed. A
// read-only client, refused every DirMeta, shows which were sent: a
// no-op push fails on none of the listed directories, and on the one
// whose mtime was changed on the server. Both a collected push and a
// streamed one (more files than streamAhead; a no-op push of the kernel
// tree sent 5,760 DirMeta that changed nothing before).
func TestPushUnchangedDirs(t *testing.T) {
	for _, tc := range []struct {
		name       string
		ahead, per int // streamAhead, files per directory
	}{
		{"collected", streamAhead, 4},
		{"streamed", 8, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func(n int) { streamAhead = n }(streamAhead)
			streamAhead = tc.ahead
			me, ro := newIdentity(t), newIdentity(t)
			ts := accessServer(t, ServerConfig{}, map[*certs.Identity]certs.ClientAccess{me: {}, ro: {ReadOnly: true}})
			c := dialAs(t, ts, me, ts.addr, quicx.Config{})
			r := dialAs(t, ts, ro, ts.addr, quicx.Config{})
			ctx := testCtx(t)
			src := filepath.Join(t.TempDir(), "tree")
			subs := []string{"s1", "s2", "s3", "s4"}
			for _, s := range subs {
				for i := range tc.per {
					testutil.WriteRandom(t, filepath.Join(src, s, fmt.Sprintf("f%d", i)), 10+i)
				}
			}
			old := time.Date(2020, 1, 2, 3, 4, 5, 6, time.UTC)
			for _, s := range subs {
				if err := os.Chtimes(filepath.Join(src, s), old, old); err != nil {
					t.Fatal(err)
				}
			}
			rep, err := c.Push(ctx, []string{src}, ".", Options{Recursive: true})
			checkReport(t, "first push", rep, err, len(subs)*tc.per, Done)

			failedDirs := func(rep *Report) map[string]bool {
				out := map[string]bool{}
				for _, f := range rep.Files {
					switch {
					case f.State == Failed && codeOfErr(f.Err) == CodeReadOnly:
						out[f.Path] = true
					case !isUpToDate(f):
						t.Errorf("%s: %s (%v), want up to date", f.Path, f.State, f.Err)
					}
				}
				return out
			}
			// "tree" itself is not listed (its parent holds nothing else
			// of the batch): its DirMeta goes, and is refused.
			rep, _ = r.Push(ctx, []string{src}, ".", Options{Recursive: true})
			if got := failedDirs(rep); len(got) != 1 || !got["tree"] {
				t.Errorf("no-op push: DirMeta refused for %v, want only tree", got)
			}
			if err := os.Chtimes(filepath.Join(ts.root, "tree", "s2"), time.Now(), time.Now()); err != nil {
				t.Fatal(err)
			}
			rep, _ = r.Push(ctx, []string{src}, ".", Options{Recursive: true})
			if got := failedDirs(rep); len(got) != 2 || !got["tree"] || !got["tree/s2"] {
				t.Errorf("push after s2's mtime changed: DirMeta refused for %v, want tree and tree/s2", got)
			}
			// A file of s3 is gone on the server: it is sent again, which
			// changes s3's mtime, and the push sets it back to the source's.
			if err := os.Remove(filepath.Join(ts.root, "tree", "s3", "f2")); err != nil {
				t.Fatal(err)
			}
			rep, err = c.Push(ctx, []string{src}, ".", Options{Recursive: true})
			if err != nil || rep.Err() != nil || rep.Count(Done) != 1 {
				t.Fatalf("push after s3/f2 was removed: %v, %v, %d sent, want 1", err, rep.Err(), rep.Count(Done))
			}
			for _, s := range subs {
				if got := mtimeOf(t, filepath.Join(ts.root, "tree", s)); !got.Equal(old) {
					t.Errorf("tree/%s: mtime %s, want the source's %s", s, got, old)
				}
			}
		})
	}
}

// TestPushListsEachDirOnce: a push of a tree lists each destination
// directory at most once, however many files it brings there, into a
// new destination and again when everything is up to date. A file's
// lookups count towards letting its directory's listing go; when a file
// looked twice, the second half of each directory listed it again (one
// more round trip in the way of those files: the 2,000-file benchmark
// made 41 listings of 21 directories). Both a collected push and a
// streamed one. A streamed push lists every directory of the tree on the
// no-op push, tree/ included, though it holds fewer than minListFiles
// entries: its listing shows a/, b/ and c/ unchanged, so they get no
// DirMeta (only tree/ does, whose parent is not listed); before, the
// no-op push sent a DirMeta for each of the four.
func TestPushListsEachDirOnce(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ahead     int     // streamAhead
		noopLists float64 // listings of the no-op push
		noopMetas float64 // DirMetas of the no-op push, at most
	}{
		{"collected", streamAhead, 3, 4},
		{"streamed", 8, 4, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func(n int) { streamAhead = n }(streamAhead)
			streamAhead = tc.ahead
			ts, c := startWithClient(t)
			ctx := testCtx(t)
			src := filepath.Join(t.TempDir(), "tree")
			subs := []string{"a", "b", "c"}
			const per = 40
			for _, s := range subs {
				for i := range per {
					testutil.WriteRandom(t, filepath.Join(src, s, fmt.Sprintf("f%02d", i)), 16+i)
				}
			}
			lists := func() float64 {
				fams := scrape(t, ts.srv)
				return valueIn(fams, "qxfer_requests_total", map[string]string{"type": "list"}) +
					valueIn(fams, "qxfer_requests_total", map[string]string{"type": "list_packed"})
			}
			// At most one listing per directory the push brings files
			// into (in and in/tree hold fewer than minListFiles entries
			// of the batch: they are not listed).
			most := float64(len(subs))
			rep, err := c.Push(ctx, []string{src}, "in", Options{Recursive: true})
			checkReport(t, "first push", rep, err, len(subs)*per, Done)
			first := lists()
			metas := func() float64 {
				return valueIn(scrape(t, ts.srv), "qxfer_requests_total", map[string]string{"type": "dir_meta"})
			}
			firstMetas := metas()
			if first > most {
				t.Errorf("push into a new directory: %v listings, want at most %v", first, most)
			}
			// Every file's directory is listed, so every file waits for
			// its listing and ends up to date without starting a
			// transfer (runJobs' waiting queue): the observer sees
			// only their ends.
			var (
				mu      sync.Mutex
				started []string
			)
			observe := func(ti TransferInfo) {
				if ti.State != Skipped {
					mu.Lock()
					started = append(started, ti.Path+" "+ti.State.String())
					mu.Unlock()
				}
			}
			rep, err = c.Push(ctx, []string{src}, "in", Options{Recursive: true, Observer: observe})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range rep.Files {
				if !isUpToDate(f) {
					t.Errorf("no-op push: %s: %s (%v), want up to date", f.Path, f.State, f.Err)
				}
			}
			if len(started) > 0 {
				t.Errorf("no-op push: %d files started a transfer (%v...), want none: each waits for its listing", len(started), started[0])
			}
			if got := lists() - first; got != tc.noopLists {
				t.Errorf("no-op push: %v listings, want %v", got, tc.noopLists)
			}
			if got := metas() - firstMetas; got > tc.noopMetas {
				t.Errorf("no-op push: %v DirMetas, want at most %v", got, tc.noopMetas)
			}

		})
	}
}

// TestUpToDateNow: a push ends a job at once when its directory's
// listing is ready and shows it up to date; only that answer counts as
// the file's lookup. A listing still being made, a directory not listed,
// or a file that differs answers false and counts nothing, so the job's
// own lookup, when it runs, is the one that counts (counting both would
// let the listing go before the directory's last file and list it
// again).
func TestUpToDateNow(t *testing.T) {
	mtime := time.Unix(1700000000, 5)
	meta := xfer.FileMeta{Size: 10, MTime: mtime}
	ready := func(names ...string) *destDir {
		d := &destDir{ready: make(chan struct{}), left: 3, known: true, entries: map[string]Entry{}}
		for _, n := range names {
			d.entries[n] = Entry{Name: n, Kind: KindFile, Size: 10, MTime: mtime}
		}
		close(d.ready)
		return d
	}
	for _, tc := range []struct {
		name     string
		d        *destDir
		listed   bool
		remote   string
		meta     xfer.FileMeta
		want     bool
		wantLeft int
	}{
		{"ready and up to date", ready("f"), true, "dir/f", meta, true, 2},
		{"ready, other mtime", ready("f"), true, "dir/f", xfer.FileMeta{Size: 10, MTime: mtime.Add(time.Nanosecond)}, false, 3},
		{"ready, other size", ready("f"), true, "dir/f", xfer.FileMeta{Size: 11, MTime: mtime}, false, 3},
		{"ready, missing", ready("g"), true, "dir/f", meta, false, 3},
		{"ready, unknown", &destDir{ready: closed(), left: 3}, true, "dir/f", meta, false, 3},
		{"being listed", &destDir{ready: make(chan struct{}), left: 3}, true, "dir/f", meta, false, 3},
		{"not listed", ready("f"), false, "dir/f", meta, false, 3},
		{"no walked mtime", ready("f"), true, "dir/f", xfer.FileMeta{Size: 10}, false, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := &destStates{listed: map[string]bool{"dir": tc.listed}, want: map[string]int{"dir": 3}, dirs: map[string]*destDir{"dir": tc.d}}
			if got := ds.upToDateNow(tc.remote, tc.meta); got != tc.want {
				t.Errorf("upToDateNow = %v, want %v", got, tc.want)
			}
			if tc.d.left != tc.wantLeft {
				t.Errorf("lookups left %d, want %d", tc.d.left, tc.wantLeft)
			}
		})
	}
	// The directory's last file lets its listing go.
	d := ready("f")
	d.left = 1
	ds := &destStates{listed: map[string]bool{"dir": true}, dirs: map[string]*destDir{"dir": d}}
	if !ds.upToDateNow("dir/f", meta) || ds.dirs["dir"] != nil {
		t.Errorf("last lookup: listing still held (%v)", ds.dirs["dir"])
	}
	var nilDS *destStates
	if nilDS.upToDateNow("dir/f", meta) {
		t.Error("no destination states: up to date")
	}
}

func closed() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// TestUpToDateWait: a push job waits for the listing under way of its
// directory before it runs, and is up to date without running once the
// listing shows it so; a listing nobody started is not waited for, and
// the end of the batch's context ends the wait.
func TestUpToDateWait(t *testing.T) {
	mtime := time.Unix(1700000000, 5)
	meta := xfer.FileMeta{Size: 10, MTime: mtime}
	pending := func() *destDir { return &destDir{ready: make(chan struct{}), left: 3} }
	newDS := func(d *destDir) *destStates {
		return &destStates{listed: map[string]bool{"dir": true}, want: map[string]int{"dir": 3}, dirs: map[string]*destDir{"dir": d}}
	}

	t.Run("listing arrives up to date", func(t *testing.T) {
		d := pending()
		ds := newDS(d)
		got := make(chan bool, 1)
		go func() { got <- ds.upToDateWait(t.Context(), "dir/f", meta) }()
		select {
		case v := <-got:
			t.Fatalf("upToDateWait returned %v before the listing was ready", v)
		case <-time.After(50 * time.Millisecond):
		}
		d.known, d.entries = true, map[string]Entry{"f": {Name: "f", Kind: KindFile, Size: 10, MTime: mtime}}
		close(d.ready)
		if !<-got {
			t.Fatal("upToDateWait = false once the listing showed the file up to date")
		}
		if d.left != 2 {
			t.Errorf("lookups left %d, want 2 (the wait counts as the file's lookup)", d.left)
		}
	})
	t.Run("listing arrives with another size", func(t *testing.T) {
		d := pending()
		ds := newDS(d)
		d.known, d.entries = true, map[string]Entry{"f": {Name: "f", Kind: KindFile, Size: 11, MTime: mtime}}
		close(d.ready)
		if ds.upToDateWait(t.Context(), "dir/f", meta) {
			t.Fatal("upToDateWait = true for a destination of another size")
		}
		if d.left != 3 {
			t.Errorf("lookups left %d, want 3 (a false answer is not the file's lookup)", d.left)
		}
	})
	t.Run("not started", func(t *testing.T) {
		ds := &destStates{listed: map[string]bool{"dir": true}, want: map[string]int{"dir": 3}}
		if ds.upToDateWait(t.Context(), "dir/f", meta) {
			t.Fatal("upToDateWait = true with no listing")
		}
	})
	t.Run("context ends the wait", func(t *testing.T) {
		d := pending()
		ds := newDS(d)
		ctx, cancel := context.WithCancel(t.Context())
		got := make(chan bool, 1)
		go func() { got <- ds.upToDateWait(ctx, "dir/f", meta) }()
		cancel()
		select {
		case v := <-got:
			if v {
				t.Fatal("upToDateWait = true after its context ended")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("upToDateWait still waiting 5 s after its context ended")
		}
		if d.left != 3 {
			t.Errorf("lookups left %d, want 3", d.left)
		}
	})
}

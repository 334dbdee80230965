package session

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/qxfer/qxfer/internal/testutil"
)

// syncCase is the tree case of issue 18's "Done when", scaled down: a
// tree of 500 files in 10 directories plus big/, an excluded directory of
// 500 files; then 50 files change and 23 go (5 of them with their
// directory d9/gone). The server lists at most 100 entries per
// directory, so listing big/ on either side would fail the batch: the
// excluded subtree is never walked.
type syncCase struct {
	old, cur string // the destination's copy before, the source now
	changed  []string
	deleted  []string
}

const syncFileSize = 300

func makeSyncCase(t *testing.T, old, cur string) syncCase {
	t.Helper()
	sc := syncCase{old: old, cur: cur}
	then := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	write := func(root, rel string, mtime time.Time) {
		writeTreeFile(t, root, rel, syncFileSize, mtime)
	}
	for d := range 10 {
		for f := range 50 {
			rel := fmt.Sprintf("d%d/f%02d", d, f)
			if d == 9 && f >= 45 {
				rel = fmt.Sprintf("d9/gone/f%02d", f)
			}
			write(old, rel, then)
			switch {
			case d == 9 && f >= 45:
				sc.deleted = append(sc.deleted, rel)
			case f == 7 && d < 9, f == 8 && d < 9:
				sc.deleted = append(sc.deleted, rel)
			case f < 5:
				sc.changed = append(sc.changed, rel)
				write(cur, rel, then.Add(time.Hour))
			default:
				copyFileTime(t, filepath.Join(old, filepath.FromSlash(rel)), filepath.Join(cur, filepath.FromSlash(rel)))
			}
		}
	}
	for f := range 500 {
		write(old, fmt.Sprintf("big/b%03d", f), then)
		write(cur, fmt.Sprintf("big/b%03d", f), then.Add(2*time.Hour))
	}
	if len(sc.changed) != 50 || len(sc.deleted) != 23 {
		t.Fatalf("case: %d changed, %d deleted, want 50 and 23", len(sc.changed), len(sc.deleted))
	}
	return sc
}

func copyFileTime(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(to, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// snapshot maps every path under root to its size and mtime, to show
// that a dry run changed nothing.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		m[p] = fmt.Sprint(fi.Size(), fi.ModTime().UnixNano(), fi.Mode())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSyncTree(t *testing.T) {
	for _, dir := range []Direction{Push, Pull} {
		t.Run(dir.String(), func(t *testing.T) {
			ts := startServer(t, ServerConfig{MaxListEntries: 100}, nil)
			c := ts.dial(t, "")
			ctx := testCtx(t)
			// Push: the source is local/tree, the server holds the old
			// copy as tree; pull the other way round.
			local, src, dst := treeDirs(t, dir, ts)
			sc := makeSyncCase(t, dst, src)
			flt, err := NewFilter([]FilterRule{{Pattern: "/big/"}})
			if err != nil {
				t.Fatal(err)
			}
			opts := Options{Recursive: true, Delete: true, Filter: flt}
			runOpts := func(opts Options) (*Report, error) {
				if dir == Push {
					return c.Push(ctx, []string{src}, ".", opts)
				}
				return c.Pull(ctx, []string{"tree"}, local, opts)
			}
			run := func(opts Options) *Report {
				t.Helper()
				rep, err := runOpts(opts)
				if err != nil {
					t.Fatal(err)
				}
				return rep
			}
			// Without the filter, a walk lists big/ and fails.
			unfiltered := opts
			unfiltered.Filter, unfiltered.DryRun = nil, true
			if rep, err := runOpts(unfiltered); err == nil && !slices.ContainsFunc(rep.Files, func(f TransferInfo) bool {
				return errors.Is(f.Err, &Error{Code: CodeLimitExceeded})
			}) {
				t.Fatalf("unfiltered dry run: got %v, want limit_exceeded listing big/", rep.Err())
			} else if err != nil && !errors.Is(err, &Error{Code: CodeLimitExceeded}) {
				t.Fatalf("unfiltered dry run: got %v, want limit_exceeded listing big/", err)
			}

			before := snapshot(t, dst)
			dry := opts
			dry.DryRun = true
			rep := run(dry)
			if !rep.DryRun {
				t.Error("dry run: Report.DryRun is false")
			}
			if err := rep.Err(); err != nil {
				t.Fatalf("dry run: %v", err)
			}
			got := map[ActionKind][]string{}
			for _, a := range rep.Actions {
				rel, err := filepath.Rel(dst, filepath.FromSlash(destAbs(ts, local, dir, a.Path)))
				if err != nil {
					t.Fatal(err)
				}
				got[a.Kind] = append(got[a.Kind], filepath.ToSlash(rel))
			}
			for _, l := range got {
				slices.Sort(l)
			}
			wantDel := append(slices.Clone(sc.deleted), "d9/gone")
			slices.Sort(wantDel)
			slices.Sort(sc.changed)
			if !slices.Equal(got[ActionUpdate], sc.changed) {
				t.Errorf("dry run: update %v, want %v", got[ActionUpdate], sc.changed)
			}
			if !slices.Equal(got[ActionDelete], wantDel) {
				t.Errorf("dry run: delete %v, want %v", got[ActionDelete], wantDel)
			}
			if n := len(got[ActionUpToDate]); n != 500-23-50 {
				t.Errorf("dry run: %d up to date, want %d", n, 500-23-50)
			}
			if n := len(got[ActionSend]) + len(got[ActionFail]); n != 0 {
				t.Errorf("dry run: %d to send or failing, want 0: %v %v", n, got[ActionSend], got[ActionFail])
			}
			if after := snapshot(t, dst); !mapsEqual(before, after) {
				t.Error("dry run: the destination changed")
			}

			rep = run(opts)
			if err := rep.Err(); err != nil {
				t.Fatalf("sync: %v", err)
			}
			if n := rep.Count(Done); n != 50 {
				t.Errorf("sync: %d files moved, want 50", n)
			}
			if b := rep.Bytes(); b != 50*syncFileSize {
				t.Errorf("sync: %d bytes moved, want %d", b, 50*syncFileSize)
			}
			var deleted []string
			for _, a := range rep.Actions {
				rel, _ := filepath.Rel(dst, filepath.FromSlash(destAbs(ts, local, dir, a.Path)))
				deleted = append(deleted, filepath.ToSlash(rel))
			}
			slices.Sort(deleted)
			if !slices.Equal(deleted, wantDel) {
				t.Errorf("sync: deleted %v, want %v", deleted, wantDel)
			}
			for _, rel := range wantDel {
				testutil.NoFile(t, filepath.Join(dst, filepath.FromSlash(rel)))
			}
			for _, rel := range sc.changed {
				testutil.SameFile(t, filepath.Join(dst, filepath.FromSlash(rel)), mustRead(t, filepath.Join(src, filepath.FromSlash(rel))))
			}
			// big/ at the destination is excluded, so kept as it was.
			if n := len(testutil.DirNames(t, filepath.Join(dst, "big"))); n != 500 {
				t.Errorf("big/ at the destination holds %d entries, want 500", n)
			}
			testutil.NoPartials(t, dst)

			// A second run has nothing to do.
			rep = run(opts)
			if rep.Count(Done) != 0 || len(rep.Actions) != 0 || rep.Err() != nil {
				t.Errorf("second sync: %d moved, %d deleted, err %v", rep.Count(Done), len(rep.Actions), rep.Err())
			}
		})
	}
}

// destAbs is the absolute path of an action's destination.
func destAbs(ts *testServer, local string, dir Direction, p string) string {
	if dir == Push {
		return filepath.Join(ts.root, filepath.FromSlash(p))
	}
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(local, p)
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// writeTreeFile writes size random bytes to rel (a slash path, its
// directories made) under root, with mtime as its modification time.
func writeTreeFile(t testing.TB, root, rel string, size int, mtime time.Time) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.WriteRandom(t, p, size)
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// accessLog collects a server's access log lines (ServerConfig.AccessLog),
// one per transfer the server handled, whatever its outcome.
type accessLog struct {
	// mu guards the following field.
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *accessLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// take returns the paths of the transfers logged since the last call, by
// result code ("no_error", "up_to_date", ...), each list sorted. It
// first waits (up to 10 s) for at least want transfer lines: a server
// logs a pulled file once its stream has ended, which can be after the
// client holds the whole file and its batch returned.
func (l *accessLog) take(t *testing.T, want int) map[string][]string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l.mu.Lock()
		n := bytes.Count(l.buf.Bytes(), []byte(`"message":"transfer"`))
		l.mu.Unlock()
		if n >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	l.mu.Lock()
	data := bytes.Clone(l.buf.Bytes())
	l.buf.Reset()
	l.mu.Unlock()
	out := map[string][]string{}
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var ev struct {
			Message, Path, Code string
		}
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Fatalf("access log line %q: %v", line, err)
		}
		if ev.Message == "transfer" {
			out[ev.Code] = append(out[ev.Code], ev.Path)
		}
	}
	for _, l := range out {
		slices.Sort(l)
	}
	return out
}

// TestSyncTreeOffersOnlyChanged holds issue 18's "only those files cross
// the network" at the level of requests: a --delete --exclude sync asks
// the server for exactly the changed files, one transfer each, and
// offers none of the unchanged ones (not even to be answered up to
// date), however few files a directory holds. The tree is 60
// directories of 3 files (fewer than a push lists a directory for,
// minListFiles) and small/ excluded, which the server refuses to list
// (MaxListEntries); 12 files change, 6 go. Before the sync's destination
// index answered the quick check, the push offered each of the 162
// unchanged files and the server answered up to date.
func TestSyncTreeOffersOnlyChanged(t *testing.T) {
	for _, dir := range []Direction{Push, Pull} {
		t.Run(dir.String(), func(t *testing.T) {
			var log accessLog
			ts := startServer(t, ServerConfig{MaxListEntries: 100, AccessLog: zerolog.New(&log)}, nil)
			c := ts.dial(t, "")
			ctx := testCtx(t)
			local := t.TempDir()
			src, dst := filepath.Join(local, "tree"), filepath.Join(ts.root, "tree")
			if dir == Pull {
				src, dst = dst, src
			}
			then := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
			write := func(root, rel string, size int, mtime time.Time) {
				writeTreeFile(t, root, rel, size, mtime)
			}
			var changed, deleted []string
			for d := range 60 {
				for f := range 3 {
					rel := fmt.Sprintf("d%02d/f%d", d, f)
					write(dst, rel, 100, then)
					switch {
					case d%10 == 0 && f < 2: // 12 change
						changed = append(changed, "tree/"+rel)
						write(src, rel, 120, then.Add(time.Minute))
					case d%10 == 5: // 6 go, with one file each
						if f == 0 {
							deleted = append(deleted, "tree/"+rel)
							continue
						}
						copyFileTime(t, filepath.Join(dst, filepath.FromSlash(rel)), filepath.Join(src, filepath.FromSlash(rel)))
					default:
						copyFileTime(t, filepath.Join(dst, filepath.FromSlash(rel)), filepath.Join(src, filepath.FromSlash(rel)))
					}
				}
			}
			for f := range 150 {
				write(dst, fmt.Sprintf("small/s%03d", f), 10, then)
				write(src, fmt.Sprintf("small/s%03d", f), 10, then.Add(time.Hour))
			}
			slices.Sort(changed)
			slices.Sort(deleted)
			flt, err := NewFilter([]FilterRule{{Pattern: "small/"}})
			if err != nil {
				t.Fatal(err)
			}
			opts := Options{Recursive: true, Delete: true, Filter: flt}
			run := func() *Report {
				t.Helper()
				rep, err := transferOf(dir, local, "tree", opts)(ctx, c)
				if err != nil {
					t.Fatal(err)
				}
				if err := rep.Err(); err != nil {
					t.Fatal(err)
				}
				return rep
			}

			rep := run()
			got := log.take(t, len(changed))
			if !slices.Equal(got["no_error"], changed) || len(got) != 1 {
				t.Errorf("the server handled %v, want exactly the %d changed files %v", got, len(changed), changed)
			}
			if n := rep.Count(Done); n != len(changed) {
				t.Errorf("%d files moved, want %d", n, len(changed))
			}
			if n := rep.Count(Skipped); n != 180-len(changed)-len(deleted) {
				t.Errorf("%d files up to date, want %d", n, 180-len(changed)-len(deleted))
			}
			if len(rep.Actions) != len(deleted) {
				t.Errorf("%d deleted, want %d: %v", len(rep.Actions), len(deleted), rep.Actions)
			}
			for _, rel := range deleted {
				testutil.NoFile(t, filepath.Join(filepath.Dir(dst), filepath.FromSlash(rel)))
			}
			for _, rel := range changed {
				testutil.SameFile(t, filepath.Join(filepath.Dir(dst), filepath.FromSlash(rel)), mustRead(t, filepath.Join(filepath.Dir(src), filepath.FromSlash(rel))))
			}
			// small/ at the destination is excluded: kept as it was.
			if n := len(testutil.DirNames(t, filepath.Join(dst, "small"))); n != 150 {
				t.Errorf("small/ at the destination holds %d entries, want 150", n)
			}

			// In step now: a second sync asks for no file at all.
			rep = run()
			if got := log.take(t, 0); len(got) != 0 {
				t.Errorf("second sync: the server handled %v, want nothing", got)
			}
			if rep.Count(Done) != 0 || len(rep.Actions) != 0 {
				t.Errorf("second sync: %d moved, %d deleted, want none", rep.Count(Done), len(rep.Actions))
			}
		})
	}
}

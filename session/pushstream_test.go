package session

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// writeTinyTree writes n files of one byte under root, 500 to a
// directory, and an empty directory; it returns the files' relative paths.
func writeTinyTree(t testing.TB, root string, n int) []string {
	t.Helper()
	var rel []string
	for i := range n {
		dir := fmt.Sprintf("d%04d", i/500)
		if i%500 == 0 {
			if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		p := filepath.Join(dir, fmt.Sprintf("f%06d", i))
		if err := os.WriteFile(filepath.Join(root, p), []byte{byte(i)}, 0o644); err != nil {
			t.Fatal(err)
		}
		rel = append(rel, p)
	}
	if err := os.MkdirAll(filepath.Join(root, "empty", "deeper"), 0o755); err != nil {
		t.Fatal(err)
	}
	return rel
}

// TestPushStreamed pushes a tree of more files than a walk finds ahead
// (streamAhead), so the files start before the walk ends: every file
// arrives, the report counts them all but lists only its bounded share,
// Found reports every file once (the last call with more false) and Plan
// is not called; a second push finds them all up to date. A tree pushed
// under a new name (PushFile, scp -r dir host:new) streams too: it held
// every file's job until the report (issue 17: 230 MB for the kernel).
func TestPushStreamed(t *testing.T) {
	for _, tc := range []struct {
		name string
		push func(ctx context.Context, c *clientConn, src string, opts Options) (*Report, error)
		top  string // where the tree lands
	}{
		{"into a directory", func(ctx context.Context, c *clientConn, src string, opts Options) (*Report, error) {
			return c.Push(ctx, []string{src}, "up", opts)
		}, "up/tree"},
		{"under a new name", func(ctx context.Context, c *clientConn, src string, opts Options) (*Report, error) {
			return c.PushFile(ctx, src, "up/renamed", opts)
		}, "up/renamed"},
	} {
		t.Run(tc.name, func(t *testing.T) { testPushStreamed(t, tc.push, tc.top) })
	}
}

func testPushStreamed(t *testing.T, push func(ctx context.Context, c *clientConn, src string, opts Options) (*Report, error), top string) {
	n := streamAhead + 1500
	ts, c := startWithClient(t)
	ctx := longCtx(t)
	src := filepath.Join(t.TempDir(), "tree")
	rel := writeTinyTree(t, src, n)

	var (
		mu     sync.Mutex
		found  = map[uint64]bool{}
		last   int
		calls  int
		plans  int
		ended  int
		orders []bool
	)
	opts := Options{Recursive: true,
		Plan: func([]TransferInfo) { mu.Lock(); plans++; mu.Unlock() },
		Found: func(files []TransferInfo, more bool) {
			mu.Lock()
			defer mu.Unlock()
			calls++
			orders = append(orders, more)
			for _, f := range files {
				if found[f.ID] {
					t.Errorf("Found reported %s twice", f.Path)
				}
				found[f.ID] = true
			}
			if !more {
				last = len(found)
			}
		},
		Observer: func(ti TransferInfo) {
			if ti.State.Ended() {
				mu.Lock()
				ended++
				mu.Unlock()
			}
		},
	}
	rep, err := push(ctx, c, src, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Err() != nil {
		t.Fatalf("push: %v", rep.Err())
	}
	if rep.Len() != n || rep.Count(Done) != n {
		t.Fatalf("report: %d files, %d done; want %d done", rep.Len(), rep.Count(Done), n)
	}
	if rep.Bytes() != int64(n) {
		t.Errorf("report: %d bytes, want %d", rep.Bytes(), n)
	}
	if len(rep.Files) > maxReportFiles || rep.Omitted() != n-len(rep.Files) {
		t.Errorf("report lists %d files and omits %d, want at most %d listed and the rest omitted", len(rep.Files), rep.Omitted(), maxReportFiles)
	}
	if plans != 0 {
		t.Errorf("Plan called %d times in a streamed push, want 0", plans)
	}
	if last != n || len(found) != n || calls < 2 || orders[len(orders)-1] {
		t.Errorf("Found: %d files in %d calls (%d when more was false, last more %v), want %d with the last call more=false", len(found), calls, last, orders[len(orders)-1], n)
	}
	if ended != n {
		t.Errorf("Observer saw %d files end, want %d", ended, n)
	}
	for i, p := range rel {
		if i%97 != 0 && i != len(rel)-1 {
			continue
		}
		b, err := os.ReadFile(filepath.Join(ts.root, filepath.FromSlash(top), p))
		if err != nil || len(b) != 1 || b[0] != byte(i) {
			t.Errorf("%s: got %q, %v; want the byte %d", p, b, err, i)
		}
	}
	if fi, err := os.Stat(filepath.Join(ts.root, filepath.FromSlash(top), "empty", "deeper")); err != nil || !fi.IsDir() {
		t.Errorf("the empty directory: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(ts.root, filepath.FromSlash(top))); len(entries) != (n+499)/500+1 {
		t.Errorf("%s holds %d entries, want %d", top, len(entries), (n+499)/500+1)
	}

	rep, err = push(ctx, c, src, Options{Recursive: true})
	if err != nil || rep.Err() != nil {
		t.Fatalf("second push: %v, %v", err, rep.Err())
	}
	if rep.Count(Skipped) != n || rep.Bytes() != 0 {
		t.Errorf("second push: %d up to date, %d bytes; want %d and 0", rep.Count(Skipped), rep.Bytes(), n)
	}
}

// TestPullStreamed pulls a tree of more files than a walk finds ahead:
// the remote tree is listed while the files arrive, and the result is
// the tree, with its empty directories and directory mtimes; pulled
// under a new name (PullFile) too.
func TestPullStreamed(t *testing.T) {
	for _, tc := range []struct {
		name string
		pull func(ctx context.Context, c *clientConn, dst string, opts Options) (*Report, error)
		top  string // where the tree lands under dst
	}{
		{"into a directory", func(ctx context.Context, c *clientConn, dst string, opts Options) (*Report, error) {
			return c.Pull(ctx, []string{"tree"}, dst, opts)
		}, "tree"},
		{"under a new name", func(ctx context.Context, c *clientConn, dst string, opts Options) (*Report, error) {
			return c.PullFile(ctx, "tree", filepath.Join(dst, "renamed"), opts)
		}, "renamed"},
	} {
		t.Run(tc.name, func(t *testing.T) { testPullStreamed(t, tc.pull, tc.top) })
	}
}

func testPullStreamed(t *testing.T, pull func(ctx context.Context, c *clientConn, dst string, opts Options) (*Report, error), top string) {
	n := streamAhead + 1500
	ts, c := startWithClient(t)
	ctx := longCtx(t)
	rel := writeTinyTree(t, filepath.Join(ts.root, "tree"), n)
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(ts.root, "tree", "d0003"), old, old); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		found int
		done  bool
		plans int
	)
	dst := t.TempDir()
	rep, err := pull(ctx, c, dst, Options{Recursive: true,
		Plan: func([]TransferInfo) { mu.Lock(); plans++; mu.Unlock() },
		Found: func(files []TransferInfo, more bool) {
			mu.Lock()
			defer mu.Unlock()
			if done {
				t.Errorf("Found called after its last call")
			}
			found += len(files)
			done = !more
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Err() != nil {
		t.Fatalf("pull: %v", rep.Err())
	}
	if rep.Len() != n || rep.Count(Done) != n || rep.Bytes() != int64(n) || rep.Omitted() == 0 {
		t.Errorf("report: %d files, %d done, %d bytes, %d omitted; want %d, %d, %d and some omitted", rep.Len(), rep.Count(Done), rep.Bytes(), rep.Omitted(), n, n, n)
	}
	if found != n || !done || plans != 0 {
		t.Errorf("Found: %d files, ended %v; Plan called %d times; want %d files, ended, and no Plan", found, done, plans, n)
	}
	for i, p := range rel {
		if i%97 != 0 && i != len(rel)-1 {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dst, top, p))
		if err != nil || len(b) != 1 || b[0] != byte(i) {
			t.Errorf("%s: got %q, %v; want the byte %d", p, b, err, i)
		}
	}
	if fi, err := os.Stat(filepath.Join(dst, top, "empty", "deeper")); err != nil || !fi.IsDir() {
		t.Errorf("the empty directory: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dst, top, "d0003")); err != nil {
		t.Error(err)
	} else if !fi.ModTime().Equal(old) {
		t.Errorf("d0003: mtime %v, want %v", fi.ModTime(), old)
	}
}

package session

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/internal/udpproxy"
)

// transferEvents records what an Options.Observer sees, keyed by remote
// path, and lets a test wait for a transfer to start.
type transferEvents struct {
	// mu guards the following fields.
	mu      sync.Mutex
	started map[string]TransferInfo
	ended   map[string]TransferInfo
	endedAt map[string]time.Time
	changed chan struct{} // closed and replaced on every event
}

func newTransferEvents() *transferEvents {
	return &transferEvents{
		started: make(map[string]TransferInfo),
		ended:   make(map[string]TransferInfo),
		endedAt: make(map[string]time.Time),
		changed: make(chan struct{}),
	}
}

// observe is the Observer callback.
func (e *transferEvents) observe(i TransferInfo) {
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	if i.State.Ended() {
		e.ended[i.Path] = i
		e.endedAt[i.Path] = now
	} else {
		e.started[i.Path] = i
	}
	close(e.changed)
	e.changed = make(chan struct{})
}

// waitStarted blocks until the transfer of remote path p has been reported
// as started.
func (e *transferEvents) waitStarted(t testing.TB, p string, timeout time.Duration) TransferInfo {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		e.mu.Lock()
		i, ok := e.started[p]
		ch := e.changed
		e.mu.Unlock()
		if ok {
			return i
		}
		select {
		case <-ch:
		case <-timer.C:
			t.Fatalf("%s: no start event within %s", p, timeout)
		}
	}
}

// endInfo returns the end event of remote path p (zero if none).
func (e *transferEvents) endInfo(p string) TransferInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ended[p]
}

// endTimes returns a copy of the recorded end times.
func (e *transferEvents) endTimes() map[string]time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]time.Time, len(e.endedAt))
	for k, v := range e.endedAt {
		out[k] = v
	}
	return out
}

func TestCancelOneOfThree(t *testing.T) {
	base := runtime.NumGoroutine()
	ts := startServer(t, ServerConfig{}, nil)
	// 40 Mbit/s: 24 MiB take about five seconds, time enough to cancel
	// one file in the middle of its body.
	p := throttledProxy(t, ts, udpproxy.Config{RateBits: 40e6})
	c := ts.dial(t, p.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	src := t.TempDir()
	names := []string{"a.bin", "b.bin", "c.bin"}
	data := make(map[string][]byte)
	var sources []string
	for _, n := range names {
		data[n] = testutil.WriteRandom(t, filepath.Join(src, n), 8<<20)
		sources = append(sources, filepath.Join(src, n))
	}
	const victim = "in/b.bin"

	ev := newTransferEvents()
	res := pushAsync(ctx, c, sources, "in", Options{Parallel: 3, Observer: ev.observe})

	start := ev.waitStarted(t, victim, 30*time.Second)
	if start.State != Queued && start.State != Running {
		t.Fatalf("%s start event: got state %s, want queued or running", victim, start.State)
	}
	// Cancel in the middle of the body: the client has sent bytes and the
	// server has written some to the .part.
	testutil.Eventually(t, 30*time.Second, "bytes of "+victim+" on both ends", func() bool {
		ci, ok := liveInfo(c.Transfers(), func(i TransferInfo) bool { return i.ID == start.ID })
		if !ok || ci.Bytes == 0 {
			return false
		}
		si, ok := liveInfo(ts.srv.Transfers(), func(i TransferInfo) bool { return i.Path == victim })
		return ok && si.Bytes > 0
	})
	if !c.Transfers().Cancel(start.ID) {
		t.Fatalf("Cancel(%d): got false, want true (transfer still live)", start.ID)
	}

	rep := waitPush(t, res, time.Minute)
	if got, want := len(rep.Files), 3; got != want {
		t.Fatalf("report: got %d files, want %d", got, want)
	}
	for _, n := range names {
		f := fileByPath(t, rep, "in/"+n)
		if f.Path == victim {
			if f.State != Cancelled {
				t.Errorf("%s: got state %s (err %v), want cancelled", f.Path, f.State, f.Err)
			}
			if !errors.Is(f.Err, ErrCancelled) {
				t.Errorf("%s: got err %v, want one matching ErrCancelled", f.Path, f.Err)
			}
			if f.Bytes == 0 || f.Bytes >= int64(len(data[n])) {
				t.Errorf("%s: got %d bytes moved, want some but not all of %d", f.Path, f.Bytes, len(data[n]))
			}
			continue
		}
		if f.State != Done {
			t.Errorf("%s: got state %s (err %v), want done", f.Path, f.State, f.Err)
		}
		testutil.SameFile(t, filepath.Join(ts.root, "in", n), data[n])
	}
	var be *BatchError
	if err := rep.Err(); !errors.As(err, &be) || be.Failed != 0 || be.Cancelled != 1 {
		t.Errorf("report error: got %v, want a *BatchError with 0 failed, 1 cancelled", err)
	}
	if got := ev.endInfo(victim).State; got != Cancelled {
		t.Errorf("observer end event for %s: got state %s, want cancelled", victim, got)
	}

	// The server lets go of the transfer once the reset or the Cancel
	// reaches it; nothing signals that to the client.
	testutil.Eventually(t, 10*time.Second, "an empty server table", func() bool { return ts.srv.Transfers().Len() == 0 })
	if n := c.Transfers().Len(); n != 0 {
		t.Errorf("client table: got %d live transfers, want 0", n)
	}
	if _, err := os.Stat(filepath.Join(ts.root, "in", "b.bin")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cancelled file under its final name: got stat error %v, want not-exist", err)
	}
	if _, err := os.Stat(filepath.Join(ts.root, "in", ".b.bin.qxfer.part")); err != nil {
		t.Errorf("cancelled file's .part: got %v, want it kept for a resume", err)
	}

	// The connection is still good: push the cancelled name again, with
	// new content, over the stale .part.
	again := testutil.WriteRandom(t, filepath.Join(src, "b.bin"), 2<<20)
	rep, err := c.Push(ctx, []string{filepath.Join(src, "b.bin")}, "in", Options{})
	checkOK(t, "second push", rep, err)
	testutil.SameFile(t, filepath.Join(ts.root, "in", "b.bin"), again)
	testutil.NoPartials(t, ts.root)

	ts.stopAll(t, base, c, p)
}

func TestOneFileFailsOthersComplete(t *testing.T) {
	tests := []struct {
		name string
		// local files under the pushed tree, path -> size
		local map[string]int
		// prepare puts an obstacle under the server root
		prepare  func(t *testing.T, root string)
		failing  string // remote path of the file that must fail
		wantCode ErrorCode
	}{
		{
			name:  "parent is a regular file",
			local: map[string]int{"a.txt": 100, "blocker/x.txt": 100, "z.bin": 3 << 20},
			prepare: func(t *testing.T, root string) {
				testutil.WriteRandom(t, filepath.Join(root, "dst", "tree", "blocker"), 10)
			},
			failing:  "dst/tree/blocker/x.txt",
			wantCode: CodeNotDirectory,
		},
		{
			name:  "destination is a directory",
			local: map[string]int{"a.txt": 100, "b.txt": 100, "z.bin": 3 << 20},
			prepare: func(t *testing.T, root string) {
				if err := os.MkdirAll(filepath.Join(root, "dst", "tree", "b.txt", "sub"), 0o755); err != nil {
					t.Fatal(err)
				}
			},
			failing:  "dst/tree/b.txt",
			wantCode: CodeNotRegular,
		},
		{
			name:  "large destination exists and differs",
			local: map[string]int{"a.txt": 100, "b.bin": 2 << 20, "z.txt": 100},
			prepare: func(t *testing.T, root string) {
				testutil.WriteRandom(t, filepath.Join(root, "dst", "tree", "b.bin"), 10)
			},
			failing:  "dst/tree/b.bin",
			wantCode: CodeExists,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, ServerConfig{}, nil)
			tt.prepare(t, ts.root)
			before := snapshotTree(t, ts.root)
			c := ts.dial(t, "")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()

			src := filepath.Join(t.TempDir(), "tree")
			data := make(map[string][]byte)
			for rel, size := range tt.local {
				data["dst/tree/"+rel] = testutil.WriteRandom(t, filepath.Join(src, filepath.FromSlash(rel)), size)
			}
			rep, err := c.Push(ctx, []string{src}, "dst", Options{Recursive: true})
			if err != nil {
				t.Fatalf("push: %v", err)
			}
			if got, want := len(rep.Files), len(tt.local); got != want {
				t.Fatalf("report: got %d files, want %d", got, want)
			}
			for _, f := range rep.Files {
				if f.Path == tt.failing {
					if f.State != Failed {
						t.Errorf("%s: got state %s, want failed", f.Path, f.State)
					}
					var e *Error
					if !errors.As(f.Err, &e) {
						t.Fatalf("%s: got err %v (%T), want an *Error", f.Path, f.Err, f.Err)
					}
					if e.Code != tt.wantCode || !e.Remote {
						t.Errorf("%s: got code %s remote=%v (%v), want %s from the server", f.Path, e.Code, e.Remote, e, tt.wantCode)
					}
					continue
				}
				if f.State != Done {
					t.Errorf("%s: got state %s (err %v), want done", f.Path, f.State, f.Err)
				}
				testutil.SameFile(t, filepath.Join(ts.root, filepath.FromSlash(f.Path)), data[f.Path])
			}
			var be *BatchError
			if err := rep.Err(); !errors.As(err, &be) || be.Failed != 1 || be.Cancelled != 0 {
				t.Errorf("report error: got %v, want a *BatchError with 1 failed, 0 cancelled", err)
			}
			// The obstacle is untouched and the session goes on.
			after := snapshotTree(t, ts.root)
			for p, want := range before {
				if got := after[p]; got != want {
					t.Errorf("server %s: got %q, want it unchanged (%q)", p, got, want)
				}
			}
			testutil.NoPartials(t, ts.root)
			if _, err := c.Stat(ctx, "dst/tree"); err != nil {
				t.Errorf("stat after the failure: got %v, want the session still usable", err)
			}
		})
	}
}

// snapshotTree maps every path under root to its kind and content, to
// check that a failed push left the server's files alone.
func snapshotTree(t testing.TB, root string) map[string]string {
	t.Helper()
	out := make(map[string]string)
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			out[rel] = "dir"
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[rel] = "file:" + string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDuplicatePushRefused(t *testing.T) {
	ts := startServer(t, ServerConfig{}, nil)
	// 16 Mbit/s: the first client's 6 MiB take about three seconds.
	p := throttledProxy(t, ts, udpproxy.Config{RateBits: 16e6})
	slow := ts.dial(t, p.Addr().String())
	fast := ts.dial(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const target = "in/big.bin"
	firstSrc := filepath.Join(t.TempDir(), "big.bin")
	first := testutil.WriteRandom(t, firstSrc, 6<<20)
	res := pushAsync(ctx, slow, []string{firstSrc}, "in", Options{})
	testutil.Eventually(t, 30*time.Second, "the first push to write bytes on the server", func() bool {
		i, ok := liveInfo(ts.srv.Transfers(), func(i TransferInfo) bool { return i.Path == target })
		return ok && i.Bytes > 0
	})

	tests := []struct {
		name  string
		size  int
		force bool
	}{
		{name: "waits for accept", size: 2 << 20},
		{name: "optimistic", size: 4 << 10},
		{name: "force", size: 2 << 20, force: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := filepath.Join(t.TempDir(), "big.bin")
			testutil.WriteRandom(t, src, tt.size)
			rep, err := fast.Push(ctx, []string{src}, "in", Options{Force: tt.force})
			if err != nil {
				t.Fatalf("push: %v", err)
			}
			f := fileByPath(t, rep, target)
			if f.State != Failed {
				t.Errorf("%s: got state %s (err %v), want failed", f.Path, f.State, f.Err)
			}
			if !errors.Is(f.Err, ErrBusy) {
				t.Errorf("%s: got err %v, want one matching ErrBusy", f.Path, f.Err)
			}
			var e *Error
			if errors.As(f.Err, &e) && !e.Remote {
				t.Errorf("%s: got a local error %v, want the server's refusal", f.Path, e)
			}
		})
	}
	// The refusals only prove something if the first push was still
	// writing when they came.
	if _, ok := liveInfo(ts.srv.Transfers(), func(i TransferInfo) bool { return i.Path == target }); !ok {
		t.Fatalf("the first push ended before the duplicates were tried; slow the proxy down")
	}

	rep := waitPush(t, res, time.Minute)
	if f := fileByPath(t, rep, target); f.State != Done {
		t.Fatalf("first push: got state %s (err %v), want done", f.State, f.Err)
	}
	testutil.SameFile(t, filepath.Join(ts.root, "in", "big.bin"), first)
	testutil.NoPartials(t, ts.root)
}

func TestLargeDoesNotStarveSmall(t *testing.T) {
	ts := startServer(t, ServerConfig{}, nil)
	// 50 Mbit/s: the 32 MiB file alone takes over five seconds.
	p := throttledProxy(t, ts, udpproxy.Config{RateBits: 50e6, Delay: 10 * time.Millisecond})
	c := ts.dial(t, p.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	src := t.TempDir()
	data := make(map[string][]byte)
	sources := []string{filepath.Join(src, "big.bin")}
	data["in/big.bin"] = testutil.WriteRandom(t, sources[0], 32<<20)
	for i := range 100 {
		name := fmt.Sprintf("small%03d.txt", i)
		sources = append(sources, filepath.Join(src, name))
		data["in/"+name] = testutil.WriteRandom(t, sources[len(sources)-1], 4<<10)
	}

	ev := newTransferEvents()
	rep, err := c.Push(ctx, sources, "in", Options{Parallel: 8, Observer: ev.observe})
	checkOK(t, "push", rep, err)
	for _, f := range rep.Files {
		if f.State != Done {
			t.Errorf("%s: got state %s, want done", f.Path, f.State)
		}
		testutil.SameFile(t, filepath.Join(ts.root, filepath.FromSlash(f.Path)), data[f.Path])
	}
	ends := ev.endTimes()
	bigEnd, ok := ends["in/big.bin"]
	if !ok {
		t.Fatalf("no end event for in/big.bin")
	}
	var last time.Time
	for p := range data {
		if p == "in/big.bin" {
			continue
		}
		end, ok := ends[p]
		switch {
		case !ok:
			t.Errorf("%s: no end event", p)
		case !end.Before(bigEnd):
			t.Errorf("%s: ended %s after the big file, want every small file done before it", p, end.Sub(bigEnd))
		}
		if end.After(last) {
			last = end
		}
	}
	t.Logf("last small file ended %s before the big one (push took %s)", bigEnd.Sub(last), rep.Duration)
}

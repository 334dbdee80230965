package testutil

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

// recorder is a testing.TB that records failures instead of failing the
// test; FailNow ends the goroutine, as in a real test.
type recorder struct {
	testing.TB
	// mu guards the following fields.
	mu     sync.Mutex
	failed []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = append(r.failed, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }

// run calls f with a recorder in a goroutine of its own, so that Fatalf
// can end it, and returns what failed.
func run(t *testing.T, f func(tb testing.TB)) []string {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

// TestHelpersFail checks that each helper fails where it must and passes
// where it must, so that a test relying on it can fail.
func TestHelpersFail(t *testing.T) {
	dir := t.TempDir()
	data := WriteRandom(t, filepath.Join(dir, "sub", "f"), 1000)
	leak := make(chan struct{})
	defer close(leak)
	tests := []struct {
		name     string
		f        func(tb testing.TB)
		wantFail string // a part of the failure; "" for none
	}{
		{name: "Eventually holds", f: func(tb testing.TB) {
			start := time.Now()
			Eventually(tb, time.Second, "50 ms", func() bool { return time.Since(start) > 50*time.Millisecond })
		}},
		{name: "Eventually times out", f: func(tb testing.TB) {
			Eventually(tb, 20*time.Millisecond, "never", func() bool { return false })
		}, wantFail: "timed out after 20ms waiting for never"},
		{name: "SameFile equal", f: func(tb testing.TB) { SameFile(tb, filepath.Join(dir, "sub", "f"), data) }},
		{name: "SameFile differs", f: func(tb testing.TB) {
			// The first byte inverted: random data may already begin with any given byte.
			SameFile(tb, filepath.Join(dir, "sub", "f"), append([]byte{^data[0]}, data[1:]...))
		}, wantFail: "want 1000 identical bytes"},
		{name: "NoPartials clean", f: func(tb testing.TB) { NoPartials(tb, dir) }},
		{name: "NoPartials finds a record", f: func(tb testing.TB) {
			d := t.TempDir()
			WriteRandom(t, filepath.Join(d, "a", ".f.qxfer.resume"), 1)
			NoPartials(tb, d)
		}, wantFail: "left behind"},
		{name: "NoFile", f: func(tb testing.TB) { NoFile(tb, filepath.Join(dir, "sub", "f")) }, wantFail: "want no such file"},
		{name: "SameDirNames", f: func(tb testing.TB) { SameDirNames(tb, "dir", dir, "sub", "other") }, wantFail: `got entries ["sub"]`},
		{name: "OpenRoot of a missing directory", f: func(tb testing.TB) { OpenRoot(tb, filepath.Join(dir, "missing")) }, wantFail: "missing"},
		{name: "CheckGoroutines finds a leak", f: func(tb testing.TB) {
			// Many, so that goroutines of earlier tests still
			// ending cannot make up for them.
			base := runtime.NumGoroutine()
			for range 100 {
				go func() { <-leak }()
			}
			CheckGoroutines(tb, base)
		}, wantFail: "goroutines: got"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			failed := run(t, tt.f)
			switch {
			case tt.wantFail == "" && len(failed) > 0:
				t.Errorf("got failures %q, want none", failed)
			case tt.wantFail != "" && (len(failed) == 0 || !strings.Contains(failed[0], tt.wantFail)):
				t.Errorf("got failures %q, want one containing %q", failed, tt.wantFail)
			}
		})
	}
}

// TestQUICPair echoes a stream over the pair, then checks that closing
// everything leaves no goroutine behind.
func TestQUICPair(t *testing.T) {
	LeakCheck(t)
	client, server := QUICPair(t, &quic.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		str, err := server.AcceptStream(ctx)
		if err != nil {
			t.Errorf("accept stream: %v", err)
			return
		}
		io.Copy(str, str)
		str.Close()
	})
	str, err := client.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := WriteRandom(t, filepath.Join(t.TempDir(), "f"), 100<<10)
	wg.Go(func() {
		str.Write(want)
		str.Close()
	})
	got, err := io.ReadAll(str)
	if err != nil || string(got) != string(want) {
		t.Fatalf("echo: got %d bytes, %v, want the %d bytes sent", len(got), err, len(want))
	}
}

// TestRoute checks that Source follows Set.
func TestRoute(t *testing.T) {
	changes := RouteChanges(t)
	r := NewRoute(changes[0].To)
	for _, c := range changes {
		r.Set(c.To)
		if got, err := r.Source(nil); err != nil || !got.Equal(c.To) {
			t.Errorf("%s: got %v, %v, want %v", c.Name, got, err, c.To)
		}
	}
}

// TestTempRoot checks that the root opens the directory returned.
func TestTempRoot(t *testing.T) {
	dir, root := TempRoot(t)
	if err := root.WriteFile("x", []byte("y"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "x")); err != nil || string(b) != "y" {
		t.Errorf("got %q, %v, want %q", b, err, "y")
	}
}

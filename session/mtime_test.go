//go:build linux

package session

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/qxfer/qxfer/internal/testutil"
)

// setMTimeExact sets p's mtime to t from seconds and nanoseconds:
// os.Chtimes wraps beyond 2262.
func setMTimeExact(t *testing.T, p string, mt time.Time) {
	t.Helper()
	ts := []unix.Timespec{{Nsec: unix.UTIME_NOW}, {Sec: mt.Unix(), Nsec: int64(mt.Nanosecond())}}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, 0); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(mt) {
		t.Skipf("this file system stores %v as %v", mt, fi.ModTime())
	}
}

// TestMTimeBeyond2262 checks that mtimes an int64 of nanoseconds cannot
// hold arrive exactly, push and pull, and that the up-to-date check tells
// apart two times the old encoding clamped to the same 2262-04-11: a
// second transfer of the same file is up to date, one of a file one
// nanosecond younger is not.
func TestMTimeBeyond2262(t *testing.T) {
	times := []struct {
		name string
		mt   time.Time
	}{
		{"2445", time.Date(2445, 3, 4, 5, 6, 7, 123456789, time.UTC)},
		{"2262 one second past", time.Unix(0, math.MaxInt64).Add(time.Second)},
	}
	for _, dir := range []Direction{Push, Pull} {
		for _, tt := range times {
			t.Run(dir.String()+" "+tt.name, func(t *testing.T) {
				ts, c := startWithClient(t)
				local, src, dst := transferDirs(t, dir, ts)
				data := testutil.WriteRandom(t, filepath.Join(src, "f"), 5000)
				setMTimeExact(t, filepath.Join(src, "f"), tt.mt)
				f := onlyFile(t, "first", transferOf(dir, local, "f", Options{}), c)
				if f.State != Done {
					t.Fatalf("first: got %v (%v), want done", f.State, f.Err)
				}
				testutil.SameFile(t, filepath.Join(dst, "f"), data)
				sameMeta(t, filepath.Join(dst, "f"), metaOfFile(t, filepath.Join(src, "f")))

				f = onlyFile(t, "again", transferOf(dir, local, "f", Options{}), c)
				if f.State != Skipped {
					t.Fatalf("again: got %v (%v), want skipped (up to date)", f.State, f.Err)
				}

				// One nanosecond later: not the same file.
				setMTimeExact(t, filepath.Join(src, "f"), tt.mt.Add(time.Nanosecond))
				f = onlyFile(t, "changed", transferOf(dir, local, "f", Options{}), c)
				if e := fileError(t, f); e.Code != CodeExists {
					t.Fatalf("changed: got %v, want %v", e, CodeExists)
				}
				f = onlyFile(t, "forced", transferOf(dir, local, "f", Options{Force: true}), c)
				if f.State != Done {
					t.Fatalf("forced: got %v (%v), want done", f.State, f.Err)
				}
				sameMeta(t, filepath.Join(dst, "f"), metaOfFile(t, filepath.Join(src, "f")))
			})
		}
	}
}

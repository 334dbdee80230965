package session

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/qxfer/qxfer/internal/testutil"
)

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

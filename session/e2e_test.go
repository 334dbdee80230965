package session

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/testutil"
)

// testFile is a file of a test tree, relative to the tree's parent.
type testFile struct {
	path string
	size int
	mode fs.FileMode
}

// baseTime is the modification time of the first file of a test tree; it
// has nanoseconds so that a transfer that rounds mtimes is caught.
var baseTime = time.Date(2021, 3, 4, 5, 6, 7, 123456789, time.UTC)

// makeTree writes files and empty directories under dir with random
// content, the given modes and distinct mtimes, and returns the contents by
// path.
func makeTree(t testing.TB, dir string, files []testFile, emptyDirs []string) map[string][]byte {
	t.Helper()
	out := make(map[string][]byte)
	for i, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.path))
		out[f.path] = testutil.WriteRandom(t, p, f.size)
		if err := os.Chmod(p, f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, time.Now(), fileTime(i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range emptyDirs {
		if err := os.MkdirAll(filepath.Join(dir, filepath.FromSlash(d)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func fileTime(i int) time.Time { return baseTime.Add(time.Duration(i) * time.Second) }

// checkTree verifies content, permission bits and mtime of every file of a
// tree under dir, and that the empty directories exist.
func checkTree(t testing.TB, dir string, files []testFile, emptyDirs []string, data map[string][]byte) {
	t.Helper()
	for i, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.path))
		testutil.SameFile(t, p, data[f.path])
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode(); got != f.mode {
			t.Errorf("%s: mode: got %v, want %v", p, got, f.mode)
		}
		if got, want := fi.ModTime(), fileTime(i); !got.Equal(want) {
			t.Errorf("%s: mtime: got %v, want %v", p, got, want)
		}
	}
	for _, d := range emptyDirs {
		p := filepath.Join(dir, filepath.FromSlash(d))
		fi, err := os.Stat(p)
		if err != nil {
			t.Errorf("empty directory: %v", err)
			continue
		}
		if !fi.IsDir() {
			t.Errorf("%s: got mode %v, want a directory", p, fi.Mode())
		}
		if ents, err := os.ReadDir(p); err != nil || len(ents) != 0 {
			t.Errorf("%s: got %d entries (err %v), want an empty directory", p, len(ents), err)
		}
	}
}

// checkOK fails the test unless a push or pull returned no error and a
// report with no failed or cancelled file; what names the transfer.
func checkOK(t testing.TB, what string, rep *Report, err error) {
	t.Helper()
	if err == nil {
		err = rep.Err()
	}
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// checkReport checks what a push or pull returned: no error, and a report
// of want files, each in state s; what names the transfer in messages.
func checkReport(t testing.TB, what string, rep *Report, err error, want int, s State) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if got := len(rep.Files); got != want {
		t.Errorf("%s: got %d files in the report, want %d: %+v", what, got, want, rep.Files)
	}
	for _, f := range rep.Files {
		if f.State != s {
			t.Errorf("%s: %s: got state %v (err %v), want %v", what, f.Path, f.State, f.Err, s)
		}
	}
}

// TestPushPullRoundTrip pushes files and trees to each store and pulls
// them back: content, mode and mtime survive, nothing is left of the
// uploads, and nothing moves a second time. On S3 (5 MiB parts) the
// small files are one PutObject, the others multipart uploads, one of
// them striped over a pool.
func TestPushPullRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		files     []testFile // paths relative to the source directory
		emptyDirs []string
		source    string // what to push, relative to the source directory
		recursive bool
		pool      int // connections of the client's pool; 0: none
	}{
		{
			name:   "empty file",
			files:  []testFile{{"empty", 0, 0o644}},
			source: "empty",
		},
		{
			name:   "one byte",
			files:  []testFile{{"one", 1, 0o600}},
			source: "one",
		},
		{
			name:   "one S3 part exactly",
			files:  []testFile{{"part.bin", testPartSize, 0o640}},
			source: "part.bin",
		},
		{
			name:   "64 MiB random",
			files:  []testFile{{"big.bin", 64 << 20, 0o640}},
			source: "big.bin",
		},
		{
			name:   "striped over a pool",
			files:  []testFile{{"striped.bin", 3*testPartSize + 1, 0o600}},
			source: "striped.bin",
			pool:   4,
		},
		{
			name:   "unicode name",
			files:  []testFile{{"中文 名字.txt", 4321, 0o644}},
			source: "中文 名字.txt",
		},
		{
			name: "nested tree",
			files: []testFile{
				{"tree/a.txt", 10, 0o644},
				{"tree/exec.sh", 300, 0o755},
				{"tree/sub/b.bin", 300 << 10, 0o600},      // above smallFile
				{"tree/sub/deeper/c.bin", 2 << 20, 0o444}, // above the optimistic limit
				{"tree/sub/deeper/zero", 0, 0o640},
				{"tree/ünï/ødd name", 77, 0o644},
			},
			emptyDirs: []string{"tree/empty", "tree/sub/empty2", "tree/sub/deeper/e1/e2"},
			source:    "tree",
			recursive: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachStore(t, ServerConfig{}, func(t *testing.T, e *storeEnv) {
				c := dialWith(t, e.ts.addr, ClientConfig{Identity: newIdentity(t), Fingerprint: e.ts.id.Fingerprint, Logger: testLogger(t), Pool: PoolConfig{Size: tt.pool}})
				ctx, cancel := context.WithTimeout(context.Background(), 2*hangAfter)
				defer cancel()
				src := t.TempDir()
				data := makeTree(t, src, tt.files, tt.emptyDirs)
				opts := Options{Recursive: tt.recursive}

				rep, err := c.Push(ctx, []string{filepath.Join(src, tt.source)}, "in", opts)
				checkReport(t, "push", rep, err, len(tt.files), Done)
				e.checkTree(t, "in", tt.files, tt.emptyDirs, data)
				e.noPartials(t)

				dst := t.TempDir()
				rep, err = c.Pull(ctx, []string{"in/" + tt.source}, dst, opts)
				checkReport(t, "pull", rep, err, len(tt.files), Done)
				checkTree(t, dst, tt.files, tt.emptyDirs, data)
				testutil.NoPartials(t, dst)

				// Both ends now hold identical files: nothing moves again.
				rep, err = c.Push(ctx, []string{filepath.Join(src, tt.source)}, "in", opts)
				checkReport(t, "second push", rep, err, len(tt.files), Skipped)
				rep, err = c.Pull(ctx, []string{"in/" + tt.source}, dst, opts)
				checkReport(t, "second pull", rep, err, len(tt.files), Skipped)
				e.checkTree(t, "in", tt.files, tt.emptyDirs, data)
				checkTree(t, dst, tt.files, tt.emptyDirs, data)
				e.noPartials(t)
				testutil.NoPartials(t, dst)
			})
		})
	}
}

// TestExistingDestination checks that a file that exists and differs is
// only replaced with Force, on both the server (push) and the client
// (pull) side, for files sent optimistically and files that wait for
// Accept.
func TestExistingDestination(t *testing.T) {
	tests := []struct {
		name      string
		dir       Direction
		size      int
		force     bool
		wantState State
		wantCode  ErrorCode // of the file's error; CodeOK if none
	}{
		{"push small", Push, 1000, false, Failed, CodeExists},
		{"push small force", Push, 1000, true, Done, CodeOK},
		{"push large", Push, 3 << 20, false, Failed, CodeExists},
		{"push large force", Push, 3 << 20, true, Done, CodeOK},
		{"pull small", Pull, 1000, false, Failed, CodeExists},
		{"pull small force", Pull, 1000, true, Done, CodeOK},
		{"pull large", Pull, 3 << 20, false, Failed, CodeExists},
		{"pull large force", Pull, 3 << 20, true, Done, CodeOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachStore(t, ServerConfig{}, func(t *testing.T, e *storeEnv) {
				c := e.ts.dial(t, "")
				ctx := testCtx(t)
				local := t.TempDir()
				localFile := filepath.Join(local, "f.bin")
				const remoteFile = "in/f.bin"

				// The source is new; the destination holds an older,
				// different file of another size.
				var newData, oldData []byte
				if tt.dir == Push {
					newData = testutil.WriteRandom(t, localFile, tt.size)
					if err := os.Chtimes(localFile, time.Now(), fileTime(1)); err != nil {
						t.Fatal(err)
					}
					oldData = randomBytes(t, tt.size/2)
					e.put(t, remoteFile, oldData, 0o644, fileTime(0))
				} else {
					newData = randomBytes(t, tt.size)
					e.put(t, remoteFile, newData, 0o644, fileTime(1))
					oldData = testutil.WriteRandom(t, localFile, tt.size/2)
					if err := os.Chtimes(localFile, time.Now(), fileTime(0)); err != nil {
						t.Fatal(err)
					}
				}
				// checkDst checks the destination's content and mtime: the
				// store's file on a push, the local one on a pull.
				checkDst := func(want []byte, mtime time.Time) {
					t.Helper()
					if tt.dir == Push {
						e.sameFile(t, remoteFile, want)
						if m, _ := e.meta(t, remoteFile); !m.mtime.Equal(mtime) {
							t.Errorf("mtime: got %v, want %v", m.mtime, mtime)
						}
						return
					}
					testutil.SameFile(t, localFile, want)
					fi, err := os.Stat(localFile)
					if err != nil {
						t.Fatal(err)
					}
					if !fi.ModTime().Equal(mtime) {
						t.Errorf("mtime: got %v, want %v", fi.ModTime(), mtime)
					}
				}

				var rep *Report
				var err error
				opts := Options{Force: tt.force}
				if tt.dir == Push {
					rep, err = c.Push(ctx, []string{localFile}, "in", opts)
				} else {
					rep, err = c.Pull(ctx, []string{remoteFile}, local, opts)
				}
				checkReport(t, tt.dir.String(), rep, err, 1, tt.wantState)
				if got := codeOfErr(rep.Files[0].Err); tt.wantCode != CodeOK && got != tt.wantCode {
					t.Errorf("code: got %v (%v), want %v", got, rep.Files[0].Err, tt.wantCode)
				}
				if tt.wantCode == CodeOK && rep.Files[0].Err != nil {
					t.Errorf("err: got %v, want nil", rep.Files[0].Err)
				}
				if tt.force {
					checkDst(newData, fileTime(1))
				} else {
					checkDst(oldData, fileTime(0))
				}
				if tt.dir == Push {
					testutil.SameFile(t, localFile, newData)
				} else {
					e.sameFile(t, remoteFile, newData)
				}
				e.noPartials(t)
				testutil.NoPartials(t, local)
			})
		})
	}
}

// TestSmokePushPull pushes a large and a small file and pulls their
// directory back: the quickest check that the product works at all.
func TestSmokePushPull(t *testing.T) {
	forEachStore(t, ServerConfig{}, func(t *testing.T, e *storeEnv) {
		c := e.ts.dial(t, "")
		src := t.TempDir()
		data := testutil.WriteRandom(t, filepath.Join(src, "a.bin"), 3<<20)
		small := testutil.WriteRandom(t, filepath.Join(src, "b.txt"), 10)
		ctx := context.Background()
		rep, err := c.Push(ctx, []string{filepath.Join(src, "a.bin"), filepath.Join(src, "b.txt")}, "in", Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := rep.Err(); err != nil {
			t.Fatalf("push: %v %+v", err, rep.Files)
		}
		e.sameFile(t, "in/a.bin", data)
		e.sameFile(t, "in/b.txt", small)
		dst := t.TempDir()
		rep, err = c.Pull(ctx, []string{"in"}, dst, Options{Recursive: true})
		checkOK(t, "pull", rep, err)
		testutil.SameFile(t, filepath.Join(dst, "in", "a.bin"), data)
		testutil.SameFile(t, filepath.Join(dst, "in", "b.txt"), small)
		e.noPartials(t)
		testutil.NoPartials(t, dst)
	})
}

package session

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"golang.org/x/sync/errgroup"

	"github.com/qxfer/qxfer/internal/testutil"
)

// The table of stores (issue 16): every server test that is not about
// POSIX specifics runs against a directory root and an S3 root
// (versitygw), through forEachStore, with the same assertions. What a
// test checks of the server's files goes through a storeEnv, which reads
// them the store's own way: the directory for POSIX, the S3 API (and
// versitygw's directory for the bytes) for S3.
//
// Server tests that stay on a POSIX root only, and why:
//   - TestPathAttackSymlink, TestSymlinkSwapDuringPush,
//     TestFsAttackSymlinkRemoved and the symlink paths of TestFsAttackRaw:
//     an object store has no symlinks;
//   - the df tests: df is refused on an S3 root (TestFsAttackRaw asserts
//     it);
//   - TestDeltaPush, TestDeltaPull, TestDeltaWholeFile (every edit case),
//     TestDeltaHostilePlan, TestDeltaPlanAfterLast: a push to an S3 root
//     has no delta, so no plan to check (TestDeltaStores asserts that it
//     goes whole, and that a pull from S3 is a delta);
//   - TestDeltaKillResume: what resumes is the receiver's .part and
//     record, which in a pull are the client's, and a push to S3 has no
//     delta.

// storeEnv is one server of a store table test.
type storeEnv struct {
	ts *testServer
	s3 *testutil.S3Server // nil on a POSIX root
	// dir is where the server's files are on disk: the root directory,
	// or versitygw's directory of the served prefix (an object is a
	// plain file there; it may not exist before the first write).
	dir string
}

// forEachStore runs fn as two subtests, "posix" and "s3", each with a
// server of cfg on its store (cfg.Root is set). The S3 subtest sets the
// AWS variables: the test must not be parallel.
func forEachStore(t *testing.T, cfg ServerConfig, fn func(t *testing.T, e *storeEnv)) {
	t.Run("posix", func(t *testing.T) {
		ts := startServer(t, cfg, nil)
		fn(t, &storeEnv{ts: ts, dir: ts.root})
	})
	t.Run("s3", func(t *testing.T) {
		ts, s3 := startS3(t, cfg)
		fn(t, &storeEnv{ts: ts, s3: s3, dir: filepath.Join(s3.Dir, s3.Bucket, s3Prefix)})
	})
}

// isS3 reports whether e serves an S3 root.
func (e *storeEnv) isS3() bool { return e.s3 != nil }

// file is where remote path p lives on disk.
func (e *storeEnv) file(p string) string { return filepath.Join(e.dir, filepath.FromSlash(p)) }

// key is the object key of remote path p.
func (e *storeEnv) key(p string) string { return s3Prefix + "/" + p }

// put writes a file at remote path p, as the server would have stored
// it: the content, mode and mtime (object metadata on S3).
func (e *storeEnv) put(t testing.TB, p string, data []byte, mode fs.FileMode, mtime time.Time) {
	t.Helper()
	if !e.isS3() {
		f := e.file(p)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(f, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(f, time.Now(), mtime); err != nil {
			t.Fatal(err)
		}
		return
	}
	meta := map[string]string{
		"qxfer-mtime": strconv.FormatInt(mtime.UnixNano(), 10),
		"qxfer-mode":  strconv.FormatUint(uint64(mode.Perm()), 8),
	}
	_, err := s3Client(t, e.s3).PutObject(context.Background(), e.s3.Bucket, e.key(p), bytes.NewReader(data), int64(len(data)), "", "", minio.PutObjectOptions{UserMetadata: meta})
	if err != nil {
		t.Fatal(err)
	}
}

// mkdir makes directory p (a marker object "p/" on S3, as mkdir does).
func (e *storeEnv) mkdir(t testing.TB, p string) {
	t.Helper()
	if !e.isS3() {
		if err := os.MkdirAll(e.file(p), 0o755); err != nil {
			t.Fatal(err)
		}
		return
	}
	if _, err := s3Client(t, e.s3).PutObject(context.Background(), e.s3.Bucket, e.key(p)+"/", strings.NewReader(""), 0, "", "", minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
}

// storedMeta is what the store holds of a file: its mode and mtime.
type storedMeta struct {
	size  int64
	mode  fs.FileMode
	mtime time.Time
}

// meta reads the metadata of the file at remote path p: os.Stat, or a
// HEAD of its object and qxfer's metadata on it. ok is false when there
// is no such file.
func (e *storeEnv) meta(t testing.TB, p string) (m storedMeta, ok bool) {
	t.Helper()
	if !e.isS3() {
		fi, err := os.Lstat(e.file(p))
		if errors.Is(err, fs.ErrNotExist) {
			return m, false
		}
		if err != nil {
			t.Fatal(err)
		}
		return storedMeta{fi.Size(), fi.Mode(), fi.ModTime()}, true
	}
	oi, err := s3Client(t, e.s3).StatObject(context.Background(), e.s3.Bucket, e.key(p), minio.StatObjectOptions{})
	if minio.ToErrorResponse(err).StatusCode == 404 {
		return m, false
	}
	if err != nil {
		t.Fatal(err)
	}
	m.size = oi.Size
	um := map[string]string{}
	for k, v := range oi.UserMetadata {
		um[strings.ToLower(strings.TrimPrefix(strings.ToLower(k), "x-amz-meta-"))] = v
	}
	if v := um["qxfer-mtime"]; v != "" {
		ns, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("%s: mtime metadata %q: %v", p, v, err)
		}
		m.mtime = time.Unix(0, ns).UTC()
	}
	if v := um["qxfer-mode"]; v != "" {
		mode, err := strconv.ParseUint(v, 8, 32)
		if err != nil {
			t.Fatalf("%s: mode metadata %q: %v", p, v, err)
		}
		m.mode = fs.FileMode(mode)
	}
	return m, true
}

// sameFile checks that remote path p holds want.
func (e *storeEnv) sameFile(t testing.TB, p string, want []byte) {
	t.Helper()
	testutil.SameFile(t, e.file(p), want)
	if m, ok := e.meta(t, p); !ok || m.size != int64(len(want)) {
		t.Errorf("%s: got size %d (exists: %v), want %d", p, m.size, ok, len(want))
	}
}

// exists reports whether remote path p is a file or a directory.
func (e *storeEnv) exists(t testing.TB, p string) bool {
	t.Helper()
	if _, ok := e.meta(t, p); ok {
		return true
	}
	if !e.isS3() {
		return false
	}
	res, err := s3Client(t, e.s3).ListObjectsV2(e.s3.Bucket, e.key(p)+"/", "", "", "", 1)
	if err != nil {
		t.Fatal(err)
	}
	return len(res.Contents) > 0
}

// checkTree is checkTree on the store: content, mode and mtime of every
// file of a tree under remote directory dir, and its empty directories
// (on S3, a marker object with nothing else under it).
func (e *storeEnv) checkTree(t testing.TB, dir string, files []testFile, emptyDirs []string, data map[string][]byte) {
	t.Helper()
	if !e.isS3() {
		checkTree(t, e.file(dir), files, emptyDirs, data)
		return
	}
	for i, f := range files {
		p := path.Join(dir, f.path)
		e.sameFile(t, p, data[f.path])
		m, _ := e.meta(t, p)
		if m.mode != f.mode {
			t.Errorf("%s: mode: got %v, want %v", p, m.mode, f.mode)
		}
		if want := fileTime(i); !m.mtime.Equal(want) {
			t.Errorf("%s: mtime: got %v, want %v", p, m.mtime, want)
		}
	}
	for _, d := range emptyDirs {
		k := e.key(path.Join(dir, d)) + "/"
		res, err := s3Client(t, e.s3).ListObjectsV2(e.s3.Bucket, k, "", "", "", 10)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, o := range res.Contents {
			keys = append(keys, o.Key)
		}
		if !slices.Equal(keys, []string{k}) {
			t.Errorf("empty directory %s: got keys %q, want only its marker %q", d, keys, k)
		}
	}
}

// noPartials checks that nothing of an upload is left: no .part or record
// (POSIX); no state object and no multipart upload (S3).
func (e *storeEnv) noPartials(t testing.TB) {
	t.Helper()
	if !e.isS3() {
		testutil.NoPartials(t, e.dir)
		return
	}
	checkNoState(t, e.s3)
	if n := len(e.uploads(t)); n != 0 {
		t.Errorf("multipart uploads: got %d, want none left", n)
	}
}

// uploads lists the multipart uploads in progress in the bucket (S3).
func (e *storeEnv) uploads(t testing.TB) []minio.ObjectMultipartInfo {
	t.Helper()
	res, err := s3Client(t, e.s3).ListMultipartUploads(context.Background(), e.s3.Bucket, "", "", "", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	return res.Uploads
}

// allNames lists everything the store holds, recursively, as slash paths
// relative to where the root would be: the root's files and directories
// (POSIX), every key of the bucket (S3: the served prefix and outside
// it, state objects included). A POSIX root that does not exist lists
// nothing.
func (e *storeEnv) allNames(t testing.TB) []string {
	t.Helper()
	var out []string
	if !e.isS3() {
		err := filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if p != e.dir {
				rel, _ := filepath.Rel(e.dir, p)
				out = append(out, filepath.ToSlash(rel))
			}
			return nil
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		return out
	}
	c := s3Client(t, e.s3)
	for oi := range c.Client.ListObjects(context.Background(), e.s3.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if oi.Err != nil {
			t.Fatal(oi.Err)
		}
		out = append(out, oi.Key)
	}
	return out
}

// randomBytes returns n random bytes.
func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// outsideSecret puts a file "secret" where a path attack that escaped the
// root would reach it (a directory beside the root; on S3, the sibling
// prefix s3Prefix+"2" of the bucket) and returns a check that it is
// still there, alone and unchanged.
func (e *storeEnv) outsideSecret(t testing.TB) func(t testing.TB) {
	t.Helper()
	const secret = "top secret"
	if !e.isS3() {
		out := t.TempDir()
		if err := os.WriteFile(filepath.Join(out, "secret"), []byte(secret), 0o600); err != nil {
			t.Fatal(err)
		}
		return func(t testing.TB) {
			t.Helper()
			testutil.SameDirNames(t, "outside directory", out, "secret")
			testutil.SameFile(t, filepath.Join(out, "secret"), []byte(secret))
		}
	}
	k := s3Prefix + "2/secret"
	if _, err := s3Client(t, e.s3).PutObject(context.Background(), e.s3.Bucket, k, strings.NewReader(secret), int64(len(secret)), "", "", minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	return func(t testing.TB) {
		t.Helper()
		testutil.SameFile(t, filepath.Join(e.s3.Dir, e.s3.Bucket, filepath.FromSlash(k)), []byte(secret))
	}
}

// putMany writes n empty files, at the remote paths name(0..n-1), with
// 8 writes at a time (S3: one PutObject each).
func (e *storeEnv) putMany(t testing.TB, n int, name func(int) string) {
	t.Helper()
	var g errgroup.Group
	g.SetLimit(8)
	for i := range n {
		g.Go(func() error {
			if !e.isS3() {
				return os.WriteFile(e.file(name(i)), nil, 0o644)
			}
			_, err := s3Client(t, e.s3).PutObject(context.Background(), e.s3.Bucket, e.key(name(i)), strings.NewReader(""), 0, "", "", minio.PutObjectOptions{})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

// another starts one more server of cfg on e's store: the same root
// directory, or the same prefix of the bucket. It is stopped when the
// test ends, or before by its stop.
func (e *storeEnv) another(t testing.TB, cfg ServerConfig) *testServer {
	t.Helper()
	if e.isS3() {
		return startS3Server(t, e.s3, cfg)
	}
	cfg.Root = e.dir
	return startServer(t, cfg, nil)
}

// TestTreeOps lists, stats and makes directories on each store, through
// a real client: a listing names each entry with its kind, size, mode and
// mtime; stat describes a file, a directory and the root; mkdir makes
// nested directories, accepts one that exists, and refuses one below or
// on a file; missing names are not_found, a file listed is itself.
func TestTreeOps(t *testing.T) {
	forEachStore(t, ServerConfig{}, func(t *testing.T, e *storeEnv) {
		c := e.ts.dial(t, "")
		ctx := testCtx(t)
		e.put(t, "top.txt", []byte("top"), 0o640, fileTime(1))
		e.put(t, "d/in.bin", []byte("inside"), 0o600, fileTime(2))
		e.mkdir(t, "d/empty")

		ents, err := c.List(ctx, ".")
		if err != nil {
			t.Fatalf("ls .: %v", err)
		}
		var got []string
		for _, en := range ents {
			got = append(got, fmt.Sprintf("%s dir=%v", en.Name, en.IsDir()))
		}
		slices.Sort(got)
		if want := []string{"d dir=true", "top.txt dir=false"}; !slices.Equal(got, want) {
			t.Errorf("ls .: got %q, want %q", got, want)
		}
		ents, err = c.List(ctx, "d")
		if err != nil {
			t.Fatalf("ls d: %v", err)
		}
		byName := map[string]Entry{}
		for _, en := range ents {
			byName[en.Name] = en
		}
		if len(ents) != 2 || !byName["empty"].IsDir() || byName["in.bin"].Kind != KindFile {
			t.Errorf("ls d: got %+v, want the directory empty and the file in.bin", ents)
		}
		if f := byName["in.bin"]; f.Size != 6 || f.Mode.Perm() != 0o600 || !f.MTime.Equal(fileTime(2)) {
			t.Errorf("ls d: in.bin: got size %d mode %v mtime %v, want 6, 0600, %v", f.Size, f.Mode.Perm(), f.MTime, fileTime(2))
		}
		if ents, err := c.List(ctx, "top.txt"); err != nil || len(ents) != 1 || ents[0].Name != "top.txt" || ents[0].Size != 3 {
			t.Errorf("ls top.txt: got %+v, %v, want the file itself", ents, err)
		}

		st, err := c.Stat(ctx, "top.txt")
		if err != nil || st.Kind != KindFile || st.Size != 3 || st.Mode.Perm() != 0o640 || !st.MTime.Equal(fileTime(1)) {
			t.Errorf("stat top.txt: got %+v, %v, want a file of 3 bytes, 0640, %v", st, err, fileTime(1))
		}
		for _, d := range []string{".", "d", "d/empty"} {
			if st, err := c.Stat(ctx, d); err != nil || !st.IsDir() {
				t.Errorf("stat %s: got %+v, %v, want a directory", d, st, err)
			}
		}

		for _, p := range []string{"nosuch", "d/nosuch", "nosuch/deeper"} {
			if _, err := c.Stat(ctx, p); codeOfErr(err) != CodeNotFound {
				t.Errorf("stat %s: got %v, want %v", p, err, CodeNotFound)
			}
			if _, err := c.List(ctx, p); codeOfErr(err) != CodeNotFound {
				t.Errorf("ls %s: got %v, want %v", p, err, CodeNotFound)
			}
		}

		for _, p := range []string{"new", "a/b/c", "d/empty"} {
			if err := c.Mkdir(ctx, p); err != nil {
				t.Errorf("mkdir %s: %v", p, err)
			}
			if st, err := c.Stat(ctx, p); err != nil || !st.IsDir() {
				t.Errorf("stat %s after mkdir: got %+v, %v, want a directory", p, st, err)
			}
		}
		for _, p := range []string{"top.txt", "top.txt/below"} {
			err := c.Mkdir(ctx, p)
			if code := codeOfErr(err); code != CodeNotDirectory && code != CodeExists {
				t.Errorf("mkdir %s: got %v, want %v or %v", p, err, CodeNotDirectory, CodeExists)
			}
		}
		e.sameFile(t, "top.txt", []byte("top"))
		if ents, err := c.List(ctx, "new"); err != nil || len(ents) != 0 {
			t.Errorf("ls new: got %+v, %v, want an empty directory", ents, err)
		}
		for _, n := range e.allNames(t) {
			if strings.Contains(n, ".qxfer") {
				t.Errorf("the store holds %s, want no state left", n)
			}
		}
	})
}

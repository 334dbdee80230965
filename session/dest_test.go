package session

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestPushFilePullFileTree: PushFile and PullFile write one source under
// exactly the name given, as cp and scp do for a single source whose
// target is not a directory: a file as that file, a directory (with
// Recursive) as that directory, holding its contents; and refuse a
// directory without Recursive.
func TestPushFilePullFileTree(t *testing.T) {
	ts, c := startWithClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	src := t.TempDir()
	files := []testFile{{"tree/a.txt", 10, 0o644}, {"tree/sub/b.bin", 70000, 0o600}}
	data := makeTree(t, src, files, []string{"tree/empty"})
	rel := func(fs []testFile) []testFile { // the same files without "tree/"
		out := make([]testFile, len(fs))
		for i, f := range fs {
			out[i] = f
			out[i].path = f.path[len("tree/"):]
		}
		return out
	}
	inner := map[string][]byte{}
	for k, v := range data {
		inner[k[len("tree/"):]] = v
	}

	rep, err := c.PushFile(ctx, filepath.Join(src, "tree"), "backup/copy", Options{Recursive: true})
	checkReport(t, "push -r as copy", rep, err, 2, Done)
	checkTree(t, filepath.Join(ts.root, "backup", "copy"), rel(files), []string{"empty"}, inner)
	if _, err := os.Stat(filepath.Join(ts.root, "backup", "copy", "tree")); err == nil {
		t.Errorf("backup/copy/tree exists: the directory went into the target instead of becoming it")
	}
	rep, err = c.PushFile(ctx, filepath.Join(src, "tree", "a.txt"), "renamed.txt", Options{})
	checkReport(t, "push a file as renamed.txt", rep, err, 1, Done)
	checkTree(t, ts.root, []testFile{{"renamed.txt", 10, 0o644}}, nil, map[string][]byte{"renamed.txt": data["tree/a.txt"]})

	rep, err = c.PushFile(ctx, filepath.Join(src, "tree"), "nope", Options{})
	checkReport(t, "push a directory without Recursive", rep, err, 1, Failed)
	if _, err := os.Stat(filepath.Join(ts.root, "nope")); err == nil {
		t.Errorf("nope exists after a refused push")
	}

	dst := t.TempDir()
	rep, err = c.PullFile(ctx, "backup/copy", filepath.Join(dst, "new", "got"), Options{Recursive: true})
	checkReport(t, "pull -r as got", rep, err, 2, Done)
	checkTree(t, filepath.Join(dst, "new", "got"), rel(files), []string{"empty"}, inner)
	rep, err = c.PullFile(ctx, "renamed.txt", filepath.Join(dst, "file.txt"), Options{})
	checkReport(t, "pull a file as file.txt", rep, err, 1, Done)
	checkTree(t, dst, []testFile{{"file.txt", 10, 0o644}}, nil, map[string][]byte{"file.txt": data["tree/a.txt"]})
	rep, err = c.PullFile(ctx, "backup/copy", filepath.Join(dst, "nope"), Options{})
	checkReport(t, "pull a directory without Recursive", rep, err, 1, Failed)
	if _, err := os.Stat(filepath.Join(dst, "nope")); err == nil {
		t.Errorf("nope exists after a refused pull")
	}
}

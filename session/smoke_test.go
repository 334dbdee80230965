package session

import (
	"context"
	"path/filepath"
	"testing"
)

func TestSmokePushPull(t *testing.T) {
	ts := startServer(t, ServerConfig{}, nil)
	c := ts.dial(t, "")
	src := t.TempDir()
	data := writeRandom(t, filepath.Join(src, "a.bin"), 3<<20)
	small := writeRandom(t, filepath.Join(src, "b.txt"), 10)
	ctx := context.Background()
	rep, err := c.Push(ctx, []string{filepath.Join(src, "a.bin"), filepath.Join(src, "b.txt")}, "in", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Err(); err != nil {
		t.Fatalf("push: %v %+v", err, rep.Files)
	}
	sameFile(t, filepath.Join(ts.root, "in", "a.bin"), data)
	sameFile(t, filepath.Join(ts.root, "in", "b.txt"), small)
	dst := t.TempDir()
	rep, err = c.Pull(ctx, []string{"in"}, dst, Options{Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Err(); err != nil {
		t.Fatalf("pull: %v", err)
	}
	sameFile(t, filepath.Join(dst, "in", "a.bin"), data)
	sameFile(t, filepath.Join(dst, "in", "b.txt"), small)
	noParts(t, ts.root)
	noParts(t, dst)
}

package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// TestS3RenameMultipartCopy renames an object larger than one CopyObject
// copies (the limit lowered to 1 byte): it is copied part by part with its
// metadata, and the original is gone.
func TestS3RenameMultipartCopy(t *testing.T) {
	s, _ := testStore(t)
	defer func(m, p int64) { maxCopySize, copyPartSize = m, p }(maxCopySize, copyPartSize)
	maxCopySize, copyPartSize = 1, minPartSize
	ctx := context.Background()
	data := make([]byte, 2*minPartSize+5)
	rand.Read(data)
	meta := map[string]string{metaMode: "640", metaMTime: "1700000000000000001"}
	if _, err := s.api.PutObject(ctx, s.bucket, "p/big", bytes.NewReader(data), int64(len(data)), "", "", minio.PutObjectOptions{UserMetadata: meta}); err != nil {
		t.Fatal(err)
	}
	if err := s.Rename(ctx, "big", "moved"); err != nil {
		t.Fatalf("rename: %v", err)
	}
	if _, err := s.Stat(ctx, "big"); codeOf(err) != wire.NotFound {
		t.Errorf("old name: got %v, want %v", err, wire.NotFound)
	}
	fi, err := s.Stat(ctx, "moved")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != int64(len(data)) || fi.Mode().Perm() != 0o640 || fi.ModTime().UnixNano() != 1700000000000000001 {
		t.Errorf("moved: got size %d mode %v mtime %d, want %d, 0640 and 1700000000000000001", fi.Size(), fi.Mode(), fi.ModTime().UnixNano(), len(data))
	}
	rc, _, _, err := s.api.GetObject(ctx, s.bucket, "p/moved", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("moved content: got %d bytes (err %v), want the %d bytes put", len(got), err, len(data))
	}
	res, err := s.api.(interface {
		ListMultipartUploads(ctx context.Context, bucket, prefix, keyMarker, uploadIDMarker, delimiter string, maxUploads int) (minio.ListMultipartUploadsResult, error)
	}).ListMultipartUploads(ctx, s.bucket, "", "", "", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Uploads) != 0 {
		t.Errorf("multipart uploads: got %d, want none left", len(res.Uploads))
	}
}

// TestS3RenamePinned renames a directory one of whose objects is
// replaced between the listing and its copy (the copy pinned to the
// listed ETag): the rename fails with SourceChanged, the copies already
// made are deleted, and the directory stays whole under its name.
func TestS3RenamePinned(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	putObject(t, s, "p/d/a", "aaaa")
	putObject(t, s, "p/d/b", "bbbb")
	objs, err := s.objectsOf(ctx, "p/d", "d")
	if err != nil || len(objs) != 2 {
		t.Fatalf("objects of d: got %d, %v, want 2", len(objs), err)
	}
	putObject(t, s, "p/d/b", "BBBB") // a new version, a new ETag
	if err := s.copyObject(ctx, objs[0], "p/e/a", "d"); err != nil {
		t.Fatalf("copy of the unchanged object: %v", err)
	}
	if err := s.copyObject(ctx, objs[1], "p/e/b", "d"); codeOf(err) != wire.SourceChanged {
		t.Fatalf("copy of the replaced object: got %v, want %v", err, wire.SourceChanged)
	}
}

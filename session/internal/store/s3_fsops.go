package store

import (
	"context"
	"errors"
	"path"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// Changer is a store that removes and renames names (README, "S3
// roots": rm and mv). Paths are clean, never the root; the caller has
// checked the client's access and that no push of its server writes
// them.
type Changer interface {
	// Remove removes file p; with dir, the empty directory p instead.
	// A directory without dir is wire.NotRegular, a file with it
	// wire.NotDirectory, a directory holding anything wire.NotEmpty, a
	// missing name wire.NotFound.
	Remove(ctx context.Context, p string, dir bool) error
	// Rename moves file or directory from to the name to, which must
	// not exist (wire.Exists) and whose parent must (wire.NotFound).
	Rename(ctx context.Context, from, to string) error
}

var _ Changer = (*S3)(nil)

// maxCopySize is the largest object one CopyObject copies (5 GiB, AWS
// "CopyObject"); larger ones are copied part by part (UploadPartCopy).
// A variable so that the tests copy small objects in parts.
var maxCopySize int64 = 5 << 30

// copyPartSize is the size of the parts of a multipart copy (1 GiB: at
// most 5 GiB a part, and 5 TiB, the largest object, in 5,120 parts).
var copyPartSize int64 = 1 << 30

// Remove deletes the object p, or the marker of the empty directory p.
// The directory holding a removed file stays (its marker is put if the
// file was the last key under it), as on a file system.
func (s *S3) Remove(ctx context.Context, p string, dir bool) error {
	k, err := s.key(p)
	if err != nil {
		return err
	}
	_, err = s.head(ctx, k, p)
	switch {
	case err == nil && dir:
		return xfer.Errorf(wire.NotDirectory, p, "rmdir removes directories only")
	case err == nil:
		if busy, err := s.uploading(ctx, k, false, p); err != nil {
			return err
		} else if busy {
			return xfer.Errorf(wire.Busy, p, "an upload of it is in progress")
		}
		if err := s.api.RemoveObject(ctx, s.bucket, k, minio.RemoveObjectOptions{}); err != nil {
			return ioError(err, p)
		}
		return s.keepDir(ctx, path.Dir(p))
	case !errors.Is(err, xfer.ErrNotFound):
		return err
	}
	res, err := s.api.ListObjectsV2(s.bucket, k+"/", "", "", "", 2)
	if err != nil {
		return ioError(err, p)
	}
	switch {
	case len(res.Contents) == 0:
		return xfer.Errorf(wire.NotFound, p, "no such file or directory")
	case !dir:
		return xfer.Errorf(wire.NotRegular, p, "is a directory (rmdir removes empty directories)")
	case len(res.Contents) > 1 || res.Contents[0].Key != k+"/":
		return xfer.Errorf(wire.NotEmpty, p, "rmdir removes empty directories only")
	}
	if busy, err := s.uploading(ctx, k, true, p); err != nil {
		return err
	} else if busy {
		return xfer.Errorf(wire.NotEmpty, p, "an upload into it is in progress")
	}
	if err := s.api.RemoveObject(ctx, s.bucket, k+"/", minio.RemoveObjectOptions{}); err != nil {
		return ioError(err, p)
	}
	return s.keepDir(ctx, path.Dir(p))
}

// keepDir puts the marker of directory p if no key is left under it, so
// that removing or moving its last file leaves it, empty, as a file
// system would.
func (s *S3) keepDir(ctx context.Context, p string) error {
	if p == "." {
		return nil
	}
	k, err := s.key(p)
	if err != nil {
		return err
	}
	res, err := s.api.ListObjectsV2(s.bucket, k+"/", "", "", "", 1)
	if err != nil {
		return ioError(err, p)
	}
	if len(res.Contents) > 0 {
		return nil
	}
	if _, err := s.api.PutObject(ctx, s.bucket, k+"/", strings.NewReader(""), 0, "", "", minio.PutObjectOptions{}); err != nil {
		return ioError(err, p)
	}
	return nil
}

// Rename copies every object of from (the object itself, or every key
// under the directory's prefix) to its new key on the store's side, each
// copy pinned to the ETag listed (an object replaced meanwhile fails the
// rename with wire.SourceChanged), then deletes the originals. It is
// not atomic: while it runs both names show (part of) the tree; a
// failure while copying deletes the copies made and leaves from whole;
// a failure while deleting leaves both (README, "S3 roots").
func (s *S3) Rename(ctx context.Context, from, to string) error {
	fk, err := s.key(from)
	if err != nil {
		return err
	}
	tk, err := s.key(to)
	if err != nil {
		return err
	}
	objs, err := s.objectsOf(ctx, fk, from)
	if err != nil {
		return err
	}
	if busy, err := s.uploading(ctx, fk, true, from); err != nil {
		return err
	} else if busy {
		return xfer.Errorf(wire.Busy, from, "an upload of it or under it is in progress")
	}
	if exists, err := s.exists(ctx, tk, to); err != nil {
		return err
	} else if exists {
		return xfer.Errorf(wire.Exists, to, "%s exists, and rename does not replace an existing name", to)
	}
	if parent := path.Dir(to); parent != "." {
		pk, _ := s.key(parent)
		if _, err := s.head(ctx, pk, parent); err == nil {
			return xfer.Errorf(wire.NotDirectory, to, "%s is a file", parent)
		}
		if exists, err := s.exists(ctx, pk, parent); err != nil {
			return err
		} else if !exists {
			return xfer.Errorf(wire.NotFound, to, "no such directory: %s", parent)
		}
	}
	var copied []string
	for _, o := range objs {
		dst := tk + strings.TrimPrefix(o.Key, fk)
		copy := s.copyObject
		if strings.HasSuffix(o.Key, "/") {
			copy = s.copyMarker // a store may refuse to copy a "dir/" key
		}
		if err := copy(ctx, o, dst, from); err != nil {
			for _, k := range copied {
				s.api.RemoveObject(context.WithoutCancel(ctx), s.bucket, k, minio.RemoveObjectOptions{})
			}
			return err
		}
		copied = append(copied, dst)
	}
	for _, o := range objs {
		if err := s.api.RemoveObject(ctx, s.bucket, o.Key, minio.RemoveObjectOptions{}); err != nil {
			return ioError(err, from)
		}
	}
	return s.keepDir(ctx, path.Dir(from))
}

// objectsOf lists what renaming p (key k) moves: the object k, else
// every key under k/ (the directory's marker among them); none is
// wire.NotFound.
func (s *S3) objectsOf(ctx context.Context, k, p string) ([]minio.ObjectInfo, error) {
	oi, err := s.api.StatObject(ctx, s.bucket, k, minio.StatObjectOptions{})
	if err == nil {
		oi.Key = k
		return []minio.ObjectInfo{oi}, nil
	}
	if !notFound(err) {
		return nil, ioError(err, p)
	}
	var out []minio.ObjectInfo
	token := ""
	for {
		res, err := s.api.ListObjectsV2(s.bucket, k+"/", "", token, "", 1000)
		if err != nil {
			return nil, ioError(err, p)
		}
		out = append(out, res.Contents...)
		if !res.IsTruncated || res.NextContinuationToken == "" {
			break
		}
		token = res.NextContinuationToken
	}
	if len(out) == 0 {
		return nil, xfer.Errorf(wire.NotFound, p, "no such file or directory")
	}
	return out, nil
}

// exists reports whether p (key k) names an object or a directory.
func (s *S3) exists(ctx context.Context, k, p string) (bool, error) {
	if _, err := s.head(ctx, k, p); err == nil {
		return true, nil
	} else if !errors.Is(err, xfer.ErrNotFound) {
		return false, err
	}
	res, err := s.api.ListObjectsV2(s.bucket, k+"/", "", "", "", 1)
	if err != nil {
		return false, ioError(err, p)
	}
	return len(res.Contents) > 0, nil
}

// copyObject copies object o to key dst with its metadata, pinned to its
// ETag: one CopyObject up to maxCopySize, a multipart copy beyond.
func (s *S3) copyObject(ctx context.Context, o minio.ObjectInfo, dst, p string) error {
	etag := strings.Trim(o.ETag, `"`)
	if o.Size <= maxCopySize {
		// Core.CopyObject sends the metadata map as headers, and not
		// CopySrcOptions.MatchETag (minio-go v7): the condition goes
		// there; without x-amz-metadata-directive the metadata is copied.
		pin := map[string]string{"x-amz-copy-source-if-match": etag}
		if _, err := s.api.CopyObject(ctx, s.bucket, o.Key, s.bucket, dst, pin, minio.CopySrcOptions{}, minio.PutObjectOptions{}); err != nil {
			return copyError(err, p)
		}
		return nil
	}
	head, err := s.api.StatObject(ctx, s.bucket, o.Key, minio.StatObjectOptions{})
	if err != nil {
		return ioError(err, p)
	}
	if strings.Trim(head.ETag, `"`) != etag {
		return xfer.Errorf(wire.SourceChanged, p, "%s changed during the rename", o.Key)
	}
	meta := make(map[string]string, len(head.UserMetadata))
	for k, v := range head.UserMetadata {
		meta[k] = v
	}
	id, err := s.api.NewMultipartUpload(ctx, s.bucket, dst, minio.PutObjectOptions{UserMetadata: meta})
	if err != nil {
		return ioError(err, p)
	}
	var parts []minio.CompletePart
	for off, n := int64(0), 1; off < o.Size; off, n = off+copyPartSize, n+1 {
		length := min(copyPartSize, o.Size-off)
		cp, err := s.api.CopyObjectPart(ctx, s.bucket, o.Key, s.bucket, dst, id, n, off, length,
			map[string]string{"x-amz-copy-source-if-match": etag})
		if err != nil {
			s.api.AbortMultipartUpload(context.WithoutCancel(ctx), s.bucket, dst, id)
			return copyError(err, p)
		}
		parts = append(parts, cp)
	}
	if _, err := s.api.CompleteMultipartUpload(ctx, s.bucket, dst, id, parts, minio.PutObjectOptions{}); err != nil {
		s.api.AbortMultipartUpload(context.WithoutCancel(ctx), s.bucket, dst, id)
		return ioError(err, p)
	}
	return nil
}

// copyMarker puts the directory marker dst, as Rename's copy of marker
// o (versitygw refuses a CopyObject of a "dir/" key).
func (s *S3) copyMarker(ctx context.Context, _ minio.ObjectInfo, dst, p string) error {
	if _, err := s.api.PutObject(ctx, s.bucket, dst, strings.NewReader(""), 0, "", "", minio.PutObjectOptions{}); err != nil {
		return ioError(err, p)
	}
	return nil
}

// uploading reports whether a multipart upload, by any server of the
// bucket, is in progress for key k, or with under for a key below k/.
func (s *S3) uploading(ctx context.Context, k string, under bool, p string) (bool, error) {
	res, err := s.api.ListMultipartUploads(ctx, s.bucket, k, "", "", "", 1000)
	if err != nil {
		return false, ioError(err, p)
	}
	for _, u := range res.Uploads {
		if u.Key == k || under && strings.HasPrefix(u.Key, k+"/") {
			return true, nil
		}
	}
	return false, nil
}

// fileAncestor fails with wire.NotDirectory when a parent directory of
// p is a file (an object): S3 would hold "a/b/" beside the object "a",
// a tree no file system has (and versitygw refuses it with an I/O error).
func (s *S3) fileAncestor(ctx context.Context, p string) error {
	for d := path.Dir(p); d != "."; d = path.Dir(d) {
		k, err := s.key(d)
		if err != nil {
			return err
		}
		if _, err := s.head(ctx, k, d); err == nil {
			return xfer.Errorf(wire.NotDirectory, p, "%s is a file", d)
		} else if !errors.Is(err, xfer.ErrNotFound) {
			return err
		}
	}
	return nil
}

// copyError is the error of a copy: a source whose ETag no longer
// matches is wire.SourceChanged.
func copyError(err error, p string) *xfer.Error {
	if preconditionFailed(err) {
		return xfer.Errorf(wire.SourceChanged, p, "an object changed during the rename")
	}
	return ioError(err, p)
}

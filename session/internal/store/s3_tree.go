package store

import (
	"context"
	"errors"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// The user metadata qxfer keeps on an object (x-amz-meta-qxfer-mtime,
// x-amz-meta-qxfer-mode): S3 has no settable mtime, so the source's is
// kept here, in Unix nanoseconds; the mode in octal.
const (
	metaMTime = "qxfer-mtime"
	metaMode  = "qxfer-mode"
)

// userMeta is the metadata of a file described by m.
func userMeta(m xfer.FileMeta) map[string]string {
	return map[string]string{
		metaMTime: strconv.FormatInt(m.MTime.UnixNano(), 10),
		metaMode:  strconv.FormatUint(uint64(m.Mode.Perm()), 8),
	}
}

// objInfo is a file or directory of the store as an fs.FileInfo.
type objInfo struct {
	name  string
	size  int64
	mode  fs.FileMode
	mtime time.Time
	etag  string
}

func (i *objInfo) Name() string       { return i.name }
func (i *objInfo) Size() int64        { return i.size }
func (i *objInfo) Mode() fs.FileMode  { return i.mode }
func (i *objInfo) ModTime() time.Time { return i.mtime }
func (i *objInfo) IsDir() bool        { return i.mode.IsDir() }
func (i *objInfo) Sys() any           { return nil }

// fileInfo describes object oi named name: its mtime and mode from the
// qxfer metadata when there is some (objects others wrote have none: then
// the upload time and 0644).
func fileInfo(name string, oi minio.ObjectInfo) *objInfo {
	fi := &objInfo{name: name, size: oi.Size, mode: 0o644, mtime: oi.LastModified, etag: oi.ETag}
	for k, v := range oi.UserMetadata {
		switch strings.ToLower(strings.TrimPrefix(strings.ToLower(k), "x-amz-meta-")) {
		case metaMTime:
			if ns, err := strconv.ParseInt(v, 10, 64); err == nil {
				fi.mtime = time.Unix(0, ns)
			}
		case metaMode:
			if m, err := strconv.ParseUint(v, 8, 32); err == nil {
				fi.mode = fs.FileMode(m).Perm()
			}
		}
	}
	return fi
}

func dirInfo(name string) *objInfo {
	return &objInfo{name: name, mode: fs.ModeDir | 0o755}
}

// head stats object key; a missing object is a NotFound *xfer.Error.
func (s *S3) head(ctx context.Context, key, p string) (*objInfo, error) {
	oi, err := s.api.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return nil, ioError(err, p)
	}
	return fileInfo(path.Base(p), oi), nil
}

// Stat is a HEAD of the object, else a listing of the key prefix p/ (a
// directory exists when some object is under it).
func (s *S3) Stat(ctx context.Context, p string) (fs.FileInfo, error) {
	k, err := s.key(p)
	if err != nil {
		return nil, err
	}
	if p == "." {
		return dirInfo("."), nil
	}
	fi, err := s.head(ctx, k, p)
	if err == nil {
		return fi, nil
	}
	if !errors.Is(err, xfer.ErrNotFound) {
		return nil, err
	}
	res, lerr := s.api.ListObjectsV2(s.bucket, k+"/", "", "", "/", 1)
	if lerr != nil {
		return nil, ioError(lerr, p)
	}
	if len(res.Contents) > 0 || len(res.CommonPrefixes) > 0 {
		return dirInfo(path.Base(p)), nil
	}
	return nil, err
}

// headWorkers bounds the HEADs a listing runs at once (one per file, for
// its mtime and mode: listings carry no user metadata).
const headWorkers = 8

// List lists the key prefix p/ one level deep, 1000 keys a request:
// common prefixes are directories, objects files (each HEADed for its
// metadata). The state directory and directory markers are left out.
func (s *S3) List(ctx context.Context, p string, limit int, fn func([]fs.FileInfo) error) error {
	k, err := s.key(p)
	if err != nil {
		return err
	}
	dir := k
	if p != "." {
		dir += "/"
	}
	total, token, found := 0, "", p == "."
	for {
		res, err := s.api.ListObjectsV2(s.bucket, dir, "", token, "/", 1000)
		if err != nil {
			return ioError(err, p)
		}
		var page []fs.FileInfo
		for _, cp := range res.CommonPrefixes {
			found = true
			name := strings.TrimSuffix(strings.TrimPrefix(cp.Prefix, dir), "/")
			if name == "" || (dir == s.base && name == StateDir) {
				continue
			}
			page = append(page, dirInfo(name))
		}
		files := make([]*objInfo, 0, len(res.Contents))
		for _, oi := range res.Contents {
			found = true
			name := strings.TrimPrefix(oi.Key, dir)
			if name == "" || strings.Contains(name, "/") {
				continue // the directory's own marker
			}
			files = append(files, fileInfo(name, oi))
		}
		total += len(page) + len(files)
		if total > limit {
			return xfer.Errorf(wire.LimitExceeded, p, "directory has more than %d entries", limit)
		}
		s.headAll(ctx, dir, files)
		for _, f := range files {
			page = append(page, f)
		}
		if len(page) > 0 {
			if err := fn(page); err != nil {
				return err
			}
		}
		if !res.IsTruncated || res.NextContinuationToken == "" {
			break
		}
		token = res.NextContinuationToken
	}
	if !found {
		return s.notDir(ctx, k, p)
	}
	return nil
}

// notDir is the error for listing p, which has no key under it: NotFound,
// or NotDirectory when p is a file.
func (s *S3) notDir(ctx context.Context, k, p string) error {
	if _, err := s.head(ctx, k, p); err == nil {
		return xfer.Errorf(wire.NotDirectory, p, "not a directory")
	}
	return xfer.Errorf(wire.NotFound, p, "no such directory")
}

// headAll fills in the metadata of files (under key prefix dir) with
// bounded concurrent HEADs; a file whose HEAD fails keeps what the
// listing said.
func (s *S3) headAll(ctx context.Context, dir string, files []*objInfo) {
	var wg sync.WaitGroup
	next := make(chan *objInfo)
	for range min(headWorkers, len(files)) {
		wg.Go(func() {
			for f := range next {
				if oi, err := s.api.StatObject(ctx, s.bucket, dir+f.name, minio.StatObjectOptions{}); err == nil {
					*f = *fileInfo(f.name, oi)
				}
			}
		})
	}
	for _, f := range files {
		next <- f
	}
	close(next)
	wg.Wait()
}

// Mkdir puts an empty marker object "p/" (as rclone and the S3 consoles
// do), so an empty directory exists and lists. Parents need none: a key
// prefix exists when something is under it. A file at p or at one of its
// parents fails with wire.NotDirectory.
func (s *S3) Mkdir(ctx context.Context, p string, _ fs.FileMode) error {
	k, err := s.key(p)
	if err != nil || p == "." {
		return err
	}
	if _, err := s.head(ctx, k, p); err == nil {
		return xfer.Errorf(wire.NotDirectory, p, "a file of that name exists")
	}
	if err := s.fileAncestor(ctx, p); err != nil {
		return err
	}
	if _, err := s.api.PutObject(ctx, s.bucket, k+"/", strings.NewReader(""), 0, "", "", minio.PutObjectOptions{}); err != nil {
		return ioError(err, p)
	}
	return nil
}

// CheckDest is xfer.CheckDest's rule on the object: same size and mtime
// is up to date, anything else exists and needs force.
func (s *S3) CheckDest(ctx context.Context, p string, m xfer.FileMeta, force bool) (xfer.DestDecision, error) {
	if p == "." {
		return 0, xfer.Errorf(wire.NotRegular, p, "the root is a directory")
	}
	k, err := s.key(p)
	if err != nil {
		return 0, err
	}
	fi, err := s.head(ctx, k, p)
	switch {
	case errors.Is(err, xfer.ErrNotFound):
		return xfer.DestWrite, nil
	case err != nil:
		return 0, err
	case uint64(fi.size) == m.Size && fi.mtime.Equal(m.MTime):
		return xfer.DestUpToDate, nil
	case !force:
		return 0, xfer.Errorf(wire.Exists, p, "the destination already exists and differs (use --force to overwrite)")
	}
	return xfer.DestWrite, nil
}

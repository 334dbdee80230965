package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"golang.org/x/sync/semaphore"

	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// s3API is the part of minio-go's Core that the S3 store uses, so that
// the client could be swapped (design study, section 2.4).
type s3API interface {
	StatObject(ctx context.Context, bucket, key string, opts minio.StatObjectOptions) (minio.ObjectInfo, error)
	GetObject(ctx context.Context, bucket, key string, opts minio.GetObjectOptions) (io.ReadCloser, minio.ObjectInfo, http.Header, error)
	PutObject(ctx context.Context, bucket, key string, data io.Reader, size int64, md5Base64, sha256Hex string, opts minio.PutObjectOptions) (minio.UploadInfo, error)
	RemoveObject(ctx context.Context, bucket, key string, opts minio.RemoveObjectOptions) error
	ListObjectsV2(bucket, prefix, startAfter, continuationToken, delimiter string, maxKeys int) (minio.ListBucketV2Result, error)
	NewMultipartUpload(ctx context.Context, bucket, key string, opts minio.PutObjectOptions) (string, error)
	PutObjectPart(ctx context.Context, bucket, key, uploadID string, n int, data io.Reader, size int64, opts minio.PutObjectPartOptions) (minio.ObjectPart, error)
	ListObjectParts(ctx context.Context, bucket, key, uploadID string, marker, maxParts int) (minio.ListObjectPartsResult, error)
	CompleteMultipartUpload(ctx context.Context, bucket, key, uploadID string, parts []minio.CompletePart, opts minio.PutObjectOptions) (minio.UploadInfo, error)
	AbortMultipartUpload(ctx context.Context, bucket, key, uploadID string) error
	BucketExists(ctx context.Context, bucket string) (bool, error)
	// The copies of Rename, and the uploads Remove and Rename look for
	// (s3_fsops.go).
	CopyObject(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string, metadata map[string]string, src minio.CopySrcOptions, dst minio.PutObjectOptions) (minio.ObjectInfo, error)
	CopyObjectPart(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey, uploadID string, n int, offset, length int64, metadata map[string]string) (minio.CompletePart, error)
	ListMultipartUploads(ctx context.Context, bucket, prefix, keyMarker, uploadIDMarker, delimiter string, maxUploads int) (minio.ListMultipartUploadsResult, error)
}

// S3Config configures an S3 store.
type S3Config struct {
	// URL is the root: s3://BUCKET or s3://BUCKET/PREFIX.
	URL string
	// Endpoint is the store's URL (http://host:port or https://host);
	// empty means AWS (https://s3.amazonaws.com). A custom endpoint is
	// addressed path-style (http://host/BUCKET/KEY).
	Endpoint string
	// Region is the bucket's region; empty lets the client find it
	// (us-east-1 for most self-hosted stores).
	Region string
	// PartSize is the size of the parts of a multipart upload, in bytes;
	// 0 means 8 MiB (DefaultPartSize). Files of at most one part are
	// stored with one PutObject.
	PartSize uint64
	// LeaseTTL is how long a server's claim on an upload lasts without
	// a checkpoint; 0 means 30 s. Another server takes an upload over
	// only once its lease has expired.
	LeaseTTL time.Duration
	// Credentials, when set, replaces the standard AWS chain
	// (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, then
	// ~/.aws/credentials with AWS_PROFILE); tests only.
	Credentials *credentials.Credentials
}

// DefaultPartSize is the part size of multipart uploads (8 MiB): at least
// S3's minimum of 5 MiB for every part but the last, and large enough
// that a part's request overhead is small (design study, 4.4).
const DefaultPartSize = 8 << 20

// minPartSize is S3's smallest part but the last (AWS "Amazon S3
// multipart upload limits").
const minPartSize = 5 << 20

// maxParts is S3's largest number of parts in one upload.
const maxParts = 10000

// maxKeyLen is S3's longest object key, in bytes.
const maxKeyLen = 1024

// StateDir is the reserved first path element under which qxfer keeps
// its own state in the bucket (prefix/.qxfer/): listings never show it and
// no client path may name it.
const StateDir = ".qxfer"

// S3 is the store of an S3 bucket under a prefix: the file at path a/b
// is the object PREFIX/a/b, its mode and mtime are object metadata, and a
// directory is a key prefix (with an empty "dir/" marker object when it
// was made by mkdir).
type S3 struct {
	api      s3API
	bucket   string
	base     string // the server's prefix: "" or "p/"; the state lives under base+StateDir
	prefix   string // this view's prefix: base, or base+"clientroot/"
	partSize uint64
	leaseTTL time.Duration
	// mem bounds the bytes all writers of the server buffer at once
	// (MemoryBudget): shared by the views Sub returns.
	mem *semaphore.Weighted
	// parts counts the part buffers of multipart writers (PartBuffers),
	// shared like mem.
	parts *partCount
}

// MemoryBudget is how many bytes the S3 writers of one server buffer at
// once (256 MiB: 32 parts of 8 MiB). A file of at most one part holds a
// buffer of its size, a multipart file Window part buffers
// (DefaultWindow, 4: 32 MiB with 8 MiB parts), from its first byte to its
// end; a file beyond the budget waits for it, its sender held by QUIC
// flow control.
const MemoryBudget = 256 << 20

var _ Store = (*S3)(nil)

// IsS3URL reports whether a --root names an S3 bucket.
func IsS3URL(root string) bool { return strings.HasPrefix(root, "s3://") }

// OpenS3 connects to the store cfg names and checks that its bucket
// exists.
func OpenS3(ctx context.Context, cfg S3Config) (*S3, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return nil, fmt.Errorf("root %q: want s3://BUCKET or s3://BUCKET/PREFIX", cfg.URL)
	}
	bucket, prefix := u.Host, strings.Trim(u.Path, "/")
	if prefix != "" {
		prefix += "/"
	}
	host, secure, lookup := "s3.amazonaws.com", true, minio.BucketLookupAuto
	if cfg.Endpoint != "" {
		e, err := url.Parse(cfg.Endpoint)
		if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
			return nil, fmt.Errorf("s3 endpoint %q: want http://HOST[:PORT] or https://HOST[:PORT]", cfg.Endpoint)
		}
		host, secure, lookup = e.Host, e.Scheme == "https", minio.BucketLookupPath
	}
	creds := cfg.Credentials
	if creds == nil {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{},
			&credentials.FileAWSCredentials{},
		})
	}
	c, err := minio.NewCore(host, &minio.Options{Creds: creds, Secure: secure, Region: cfg.Region, BucketLookup: lookup})
	if err != nil {
		return nil, fmt.Errorf("s3 client: %w", err)
	}
	s := &S3{api: c, bucket: bucket, base: prefix, prefix: prefix, partSize: cfg.PartSize, leaseTTL: cfg.LeaseTTL, mem: semaphore.NewWeighted(MemoryBudget), parts: &partCount{}}
	if s.partSize == 0 {
		s.partSize = DefaultPartSize
	}
	if s.partSize < minPartSize {
		return nil, fmt.Errorf("s3 part size %d is below the store's minimum of %d bytes", s.partSize, minPartSize)
	}
	if s.leaseTTL == 0 {
		s.leaseTTL = 30 * time.Second
	}
	ok, err := c.BucketExists(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("s3 bucket %s: %w", bucket, err)
	}
	if !ok {
		return nil, fmt.Errorf("s3 bucket %s does not exist", bucket)
	}
	return s, nil
}

// Sub is the view of directory dir (a client's root= option): its paths
// are under PREFIX/dir/, the state stays under PREFIX/.qxfer/.
func (s *S3) Sub(dir string) *S3 {
	if dir == "" || dir == "." {
		return s
	}
	c := *s
	c.prefix = s.prefix + strings.Trim(dir, "/") + "/"
	return &c
}

// String names the store in logs: s3://bucket/prefix.
func (s *S3) String() string { return "s3://" + s.bucket + "/" + s.prefix }

// key is the object of clean path p, or an error for a path in the
// reserved state directory or one too long for S3.
func (s *S3) key(p string) (string, error) {
	if p == "." {
		return s.prefix, nil
	}
	if s.prefix == s.base && (p == StateDir || strings.HasPrefix(p, StateDir+"/")) {
		return "", xfer.Errorf(wire.InvalidPath, p, "%s is reserved for the server's own state", StateDir)
	}
	k := s.prefix + p
	if len(k) > maxKeyLen {
		return "", xfer.Errorf(wire.NameTooLong, p, "the object key would be %d bytes, more than the store's %d", len(k), maxKeyLen)
	}
	return k, nil
}

// s3Code is the S3 error code of err ("NoSuchKey", "PreconditionFailed"...),
// or "".
func s3Code(err error) (string, int) {
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		return er.Code, er.StatusCode
	}
	return "", 0
}

// notFound reports whether err says the object or upload does not exist.
func notFound(err error) bool {
	code, status := s3Code(err)
	return status == http.StatusNotFound || code == "NoSuchKey" || code == "NotFound" || code == "NoSuchUpload"
}

// preconditionFailed reports whether a conditional request was refused
// (412; AWS may answer 409 ConditionalRequestConflict to a race).
func preconditionFailed(err error) bool {
	code, status := s3Code(err)
	return status == http.StatusPreconditionFailed || code == "PreconditionFailed" || code == "ConditionalRequestConflict"
}

// ioError is err, from a request about p, as an *xfer.Error.
func ioError(err error, p string) *xfer.Error {
	var e *xfer.Error
	if errors.As(err, &e) {
		return e
	}
	switch {
	case notFound(err):
		return xfer.Errorf(wire.NotFound, p, "no such file")
	case preconditionFailed(err):
		return xfer.Errorf(wire.Exists, p, "the object changed meanwhile")
	}
	if errors.Is(err, context.Canceled) {
		return xfer.Errorf(wire.Cancelled, p, "cancelled")
	}
	return xfer.Errorf(wire.IOError, p, "object store: %v", err)
}

package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
)

// upState is the state object of one multipart upload,
// PREFIX/.qxfer/up/<hex SHA-256 of the object key>.json: what a server
// that resumes the upload (this one or another serving the bucket) needs,
// and the lease that makes exactly one server its writer. Every write of
// it is conditional (If-None-Match: * to create, If-Match: <ETag> to
// replace), so two servers never both believe they hold it.
type upState struct {
	Key      string   `json:"key"`
	Size     uint64   `json:"size"`
	MTime    int64    `json:"mtime_ns"`
	Mode     uint32   `json:"mode"`
	UploadID string   `json:"upload_id"`
	PartSize uint64   `json:"part_size"`
	Parts    []upPart `json:"parts"`
	// Hash is the marshalled file hash state after the bytes of Parts
	// (xfer.NewFileHash's MarshalBinary; a state of protocol v2, a
	// SHA-256's, does not unmarshal, and the upload starts over), so a
	// resume offers the prefix's
	// hash and goes on hashing without reading the parts back.
	Hash []byte `json:"hash"`
	// Owner is the writer holding the lease until Expires; a writer
	// that stops cleanly clears Expires, so another takes over at once.
	Owner   string    `json:"owner"`
	Expires time.Time `json:"expires"`
	// Started is when the upload was created, for the partial TTL.
	Started time.Time `json:"started"`
}

// upPart is one uploaded part: its number (from 1), size and ETag.
type upPart struct {
	N    int    `json:"n"`
	Size uint64 `json:"size"`
	ETag string `json:"etag"`
}

// held is the byte count of the parts.
func (st *upState) held() uint64 {
	var n uint64
	for _, p := range st.Parts {
		n += p.Size
	}
	return n
}

// live reports whether another writer than owner holds the lease now.
func (st *upState) live(owner string, now time.Time) bool {
	return st.Owner != "" && st.Owner != owner && now.Before(st.Expires)
}

// stateKey is the state object of object key k.
func (s *S3) stateKey(k string) string {
	sum := sha256.Sum256([]byte(k))
	return s.base + StateDir + "/up/" + hex.EncodeToString(sum[:]) + ".json"
}

// loadState reads the state object sk: nil (and no error) when there is
// none.
func (s *S3) loadState(ctx context.Context, sk string) (*upState, string, error) {
	rc, oi, _, err := s.api.GetObject(ctx, s.bucket, sk, minio.GetObjectOptions{})
	if err != nil {
		if notFound(err) {
			return nil, "", nil
		}
		return nil, "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 4<<20))
	if err != nil {
		return nil, "", err
	}
	var st upState
	if err := json.Unmarshal(b, &st); err != nil {
		// A state object that is not ours to read is replaced.
		return &upState{}, oi.ETag, nil
	}
	return &st, oi.ETag, nil
}

// saveState writes st to sk if the state object is still at etag ("":
// only if there is none), and returns its new ETag. A refusal is a
// precondition failure (preconditionFailed): another server wrote it.
func (s *S3) saveState(ctx context.Context, sk, etag string, st *upState) (string, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	var opts minio.PutObjectOptions
	opts.ContentType = "application/json"
	if etag == "" {
		opts.SetMatchETagExcept("*")
	} else {
		opts.SetMatchETag(strings.Trim(etag, `"`))
	}
	info, err := s.api.PutObject(ctx, s.bucket, sk, bytes.NewReader(b), int64(len(b)), "", "", opts)
	if err != nil {
		return "", err
	}
	return info.ETag, nil
}

// Expire aborts the multipart uploads whose state object was last
// written before cutoff and whose lease is not held, and removes their
// state objects; it returns how many it aborted. (A bucket lifecycle
// rule AbortIncompleteMultipartUpload is the backstop for uploads whose
// state object was lost: README, "S3 roots".)
func (s *S3) Expire(ctx context.Context, cutoff time.Time) (int, error) {
	dir := s.base + StateDir + "/up/"
	n, token := 0, ""
	for {
		res, err := s.api.ListObjectsV2(s.bucket, dir, "", token, "", 1000)
		if err != nil {
			return n, err
		}
		for _, oi := range res.Contents {
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			if !oi.LastModified.Before(cutoff) {
				continue
			}
			st, _, err := s.loadState(ctx, oi.Key)
			if err != nil || st == nil || st.live("", time.Now()) {
				continue
			}
			// The state goes first; a server that took the upload
			// meanwhile (a race of milliseconds against a week) loses
			// it and starts over.
			if err := s.api.RemoveObject(ctx, s.bucket, oi.Key, minio.RemoveObjectOptions{}); err != nil {
				continue
			}
			if st.UploadID != "" {
				_ = s.api.AbortMultipartUpload(ctx, s.bucket, st.Key, st.UploadID)
			}
			n++
		}
		if !res.IsTruncated || res.NextContinuationToken == "" {
			return n, nil
		}
		token = res.NextContinuationToken
	}
}

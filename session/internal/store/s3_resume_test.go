package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding"
	"hash"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/qxfer/qxfer/session/internal/xfer"
)

// TestS3ResumeHashState leaves a multipart upload of one part and a state
// object recording it, as an interrupted push does, and opens a writer
// of the same file: with the file hash state after the part (protocol
// v3's), the writer resumes the upload, offering the part with its file
// hash; with a SHA-256 state (protocol v2's), it cannot go on hashing,
// so it aborts that upload and starts a new one, offering nothing.
func TestS3ResumeHashState(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	meta := xfer.FileMeta{Size: 3 * minPartSize, Mode: 0o644, MTime: time.Unix(1700000000, 0)}
	part := bytes.Repeat([]byte{7}, minPartSize)
	for _, tc := range []struct {
		name    string
		h       hash.Hash
		resumed bool
	}{
		{"file hash state", xfer.NewFileHash(), true},
		{"protocol v2 SHA-256 state", sha256.New(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := "resume-" + map[bool]string{true: "v3", false: "v2"}[tc.resumed]
			k, err := s.key(p)
			if err != nil {
				t.Fatal(err)
			}
			uid, err := s.api.NewMultipartUpload(ctx, s.bucket, k, minio.PutObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			op, err := s.api.PutObjectPart(ctx, s.bucket, k, uid, 1, bytes.NewReader(part), int64(len(part)), minio.PutObjectPartOptions{})
			if err != nil {
				t.Fatal(err)
			}
			tc.h.Write(part)
			state, err := tc.h.(encoding.BinaryMarshaler).MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			st := &upState{Key: k, Size: meta.Size, MTime: meta.MTime.UnixNano(), Mode: 0o644, UploadID: uid,
				PartSize: s.partSizeOf(meta.Size), Parts: []upPart{{N: 1, Size: uint64(len(part)), ETag: op.ETag}}, Hash: state}
			if _, err := s.saveState(ctx, s.stateKey(k), "", st); err != nil {
				t.Fatal(err)
			}

			w, offer, err := s.OpenWriter(ctx, WriterConfig{Path: p, Meta: meta})
			if err != nil {
				t.Fatal(err)
			}
			stopped, cancel := context.WithCancel(ctx)
			cancel()
			defer w.Wait(stopped) // releases the lease

			now, _, err := s.loadState(ctx, s.stateKey(k))
			if err != nil || now == nil {
				t.Fatalf("state after the open: %v, %v", now, err)
			}
			if tc.resumed {
				if len(offer.Have) != 1 || offer.Have[0].Offset != 0 || offer.Have[0].Length != uint64(len(part)) ||
					!bytes.Equal(offer.PrefixHash, xfer.FileHash(part)) || now.UploadID != uid {
					t.Errorf("got offer %+v, upload %s; want the part [0, %d) with its file hash %x, upload %s",
						offer, now.UploadID, len(part), xfer.FileHash(part), uid)
				}
				return
			}
			if len(offer.Have) != 0 || offer.PrefixHash != nil || now.UploadID == uid || len(now.Parts) != 0 {
				t.Errorf("got offer %+v, upload %s with %d parts; want nothing offered and a new upload", offer, now.UploadID, len(now.Parts))
			}
			if _, err := s.api.ListObjectParts(ctx, s.bucket, k, uid, 0, 10); err == nil {
				t.Errorf("the upload of the v2 state, %s, is still there", uid)
			}
		})
	}
}

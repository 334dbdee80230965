package session

import (
	"crypto/sha256"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// checkpointEvery is how many bytes a receiver writes between checkpoints:
// fsync the .part, then record the offset and hash state beside it. Only
// checkpointed bytes count toward a resume offset, so a crash never claims
// bytes the disk may not hold.
const checkpointEvery = 32 << 20

// resumeRecord describes a .part file: the source it belongs to and how
// much of it is durable. It lives in ".NAME.qxfer.resume" beside the .part.
type resumeRecord struct {
	Version int    `json:"v"`
	Size    uint64 `json:"size"`  // source size
	MTime   int64  `json:"mtime"` // source modification time, Unix nanoseconds
	Offset  uint64 `json:"offset"`
	// State is the marshalled SHA-256 state after Offset bytes, so the
	// receiver can continue the whole-file hash without re-reading the
	// prefix, and can derive the prefix hash.
	State []byte `json:"state,omitempty"`
	// Ranges, in a striped record (version 2), are the durable ranges of
	// a .part written at offsets; Offset and State are then unused.
	Ranges []wire.Range `json:"ranges,omitempty"`
}

const (
	recordVersion        = 1 // a sequential .part: Offset and State
	stripedRecordVersion = 2 // a .part written in ranges: Ranges
)

// maxRecordSize bounds a resume record file (a striped one lists up to
// wire.MaxRanges ranges).
const maxRecordSize = 64 << 10

func recordName(p string) string {
	dir, name := path.Split(p)
	return dir + "." + name + ".qxfer.resume"
}

// matches reports whether r belongs to a source of this size and mtime.
func (r *resumeRecord) matches(m fileMeta) bool {
	return r != nil && r.Size == m.Size && r.MTime == m.MTime.UnixNano() && r.Offset <= r.Size
}

// hash restores the SHA-256 state after Offset bytes.
func (r *resumeRecord) hash() (hash.Hash, error) {
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(r.State); err != nil {
		return nil, fmt.Errorf("resume record: %w", err)
	}
	return h, nil
}

// prefixHash is the SHA-256 of the first Offset bytes.
func (r *resumeRecord) prefixHash() ([]byte, error) {
	h, err := r.hash()
	if err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

func hashState(h hash.Hash) []byte {
	b, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		panic(err) // sha256 always marshals
	}
	return b
}

// loadRecord reads the resume record of p and checks it against the .part
// file: a record claiming more bytes than the .part holds is ignored. A
// missing or unreadable record is (nil, nil): the transfer starts at 0.
func loadRecord(root *os.Root, p string) *resumeRecord {
	r, _ := openRecord(root, p)
	return r
}

// openRecord is loadRecord that also says whether no record file exists
// at all (so there is none to remove).
func openRecord(root *os.Root, p string) (*resumeRecord, bool) {
	b, err := root.ReadFile(recordName(p))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, true
	}
	return checkRecord(root, p, b, err), false
}

func checkRecord(root *os.Root, p string, b []byte, err error) *resumeRecord {
	if err != nil || len(b) > maxRecordSize {
		return nil
	}
	var r resumeRecord
	if json.Unmarshal(b, &r) != nil {
		return nil
	}
	fi, err := root.Stat(partName(p))
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	switch r.Version {
	case recordVersion:
		if uint64(fi.Size()) < r.Offset {
			return nil
		}
		if _, err := r.hash(); err != nil {
			return nil
		}
	case stripedRecordVersion:
		set, ok := rangeSetOf(r.Ranges, r.Size)
		if !ok || len(r.Ranges) > wire.MaxRanges || uint64(fi.Size()) < r.Size {
			return nil
		}
		r.Ranges = set.ranges()
	default:
		return nil
	}
	return &r
}

// held returns the ranges a record says are durable, for either version.
func (r *resumeRecord) held() rangeSet {
	var s rangeSet
	switch r.Version {
	case recordVersion:
		s.add(0, r.Offset)
	case stripedRecordVersion:
		s, _ = rangeSetOf(r.Ranges, r.Size)
	}
	return s
}

// saveRecord writes the record atomically (temporary file, fsync, rename).
func saveRecord(root *os.Root, p string, r *resumeRecord) error {
	if r.Version == 0 {
		r.Version = recordVersion
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	tmp := recordName(p) + ".tmp"
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	err = errors.Join(err, f.Sync(), f.Close())
	if err != nil {
		root.Remove(tmp)
		return err
	}
	return root.Rename(tmp, recordName(p))
}

// removePartial deletes the .part and its record.
func removePartial(root *os.Root, p string) {
	root.Remove(partName(p))
	root.Remove(recordName(p))
}

// resumeOffer is what a receiver offers a sender for p: the durable offset,
// the hash of that prefix and the record they come from, or zero and nil
// when it holds nothing usable. absent says no record file exists (none
// to remove before writing).
func resumeOffer(root *os.Root, p string, m fileMeta, noResume bool) (offset uint64, prefix []byte, rec *resumeRecord, absent bool) {
	if noResume {
		return 0, nil, nil, false
	}
	r, absent := openRecord(root, p)
	if !r.matches(m) || r.Version != recordVersion || r.Offset == 0 {
		return 0, nil, nil, absent
	}
	ph, err := r.prefixHash()
	if err != nil {
		return 0, nil, nil, false
	}
	return r.Offset, ph, r, false
}

// hashPrefix hashes the first n bytes of f and returns the hash state,
// for a sender checking a receiver's prefix before appending.
func hashPrefix(f *os.File, n uint64) (hash.Hash, error) {
	h := sha256.New()
	got, err := io.Copy(h, io.NewSectionReader(f, 0, int64(n)))
	if err != nil {
		return nil, err
	}
	if uint64(got) != n {
		return nil, fs.ErrInvalid
	}
	return h, nil
}

// retryFromZero runs a transfer and, if it ends in a hash mismatch, once
// more from offset 0: the receiver removes a .part it cannot trust (its
// bytes no longer match their resume record, or the whole-file hash
// failed), so a second attempt starts clean.
func retryFromZero(run func(noResume bool) error) error {
	err := run(false)
	if errors.Is(err, &Error{Code: CodeHashMismatch}) {
		err = run(true)
	}
	return err
}

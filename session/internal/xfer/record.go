package xfer

import (
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// CheckpointEvery is how many bytes a receiver writes between checkpoints:
// fsync the .part, then record its durable ranges beside it. Only
// checkpointed bytes are offered for a resume, so a crash never claims
// bytes the disk may not hold.
const CheckpointEvery = 32 << 20

// Record describes a .part file: the source it belongs to and which of its
// ranges are durable. It lives in ".NAME.qxfer.resume" beside the .part,
// as JSON:
//
//	{"v":3,"size":N,"mtime":UNIX_NANOS,"ranges":[{"Offset":O,"Length":L},...],
//	 "hashed":H,"xxh64":BASE64}
//
// with, for an mtime before 1678 or after 2262, "mtime":0 and
// "mtime_sec":UNIX_SECONDS,"mtime_nsec":NANOS.
//
// Every transfer, whatever its pool size, writes and resumes this one
// format. A version 2 record (protocol v2: its prefix hash a SHA-256 in
// "sha256") is read with its ranges and without its hash, and a version 1
// record (qxfer 1's sequential transfers: {"v":1,"offset":N,"state":
// SHA256_STATE}) as the one range [0, offset) without a hash: HashPrefix
// hashes their prefix again from the .part.
type Record struct {
	Version int    `json:"v"`
	Size    uint64 `json:"size"` // source size in bytes
	// MTime is the source's modification time in Unix nanoseconds, or 0
	// for an instant that an int64 of them cannot hold (before 1678,
	// after 2262): MTimeSec and MTimeNsec hold it then, and only then
	// (MTimeSec is never 0 for such an instant).
	MTime     int64 `json:"mtime"`
	MTimeSec  int64 `json:"mtime_sec,omitempty"`
	MTimeNsec int32 `json:"mtime_nsec,omitempty"`
	// Name is the target's file name, in the record of a target whose
	// side files are named by its hash (see PartName): what a sweep or a
	// person needs to tell what the .part was for. A record whose Name
	// is not its target's is ignored.
	Name   string       `json:"name,omitempty"`
	Ranges []wire.Range `json:"ranges,omitempty"`
	// Hashed is the length of the prefix [0, Hashed) that Sum is the
	// file hash (NewFileHash) of: what the receiver had hashed when the
	// record was written (at most the first range). The sender checks it
	// against its own file before resuming, so a source changed under
	// the same size and mtime starts over instead of wasting the rest of
	// the file.
	Hashed uint64 `json:"hashed,omitempty"`
	Sum    []byte `json:"xxh64,omitempty"`
	// SHA256 is a version 2 record's prefix hash, read only to check
	// the record, then dropped.
	SHA256 []byte `json:"sha256,omitempty"`
	// Offset and State are a version 1 record's prefix and the
	// marshalled SHA-256 state after it, read only to check the record.
	Offset uint64 `json:"offset,omitempty"`
	State  []byte `json:"state,omitempty"`
}

// Record versions.
const (
	recordV1      = 1 // qxfer 1's sequential .part: Offset
	recordV2      = 2 // durable Ranges, prefix hash SHA-256
	RecordVersion = 3 // durable Ranges, prefix hash XXH64
)

// maxRecordSize bounds a resume record file (it lists up to
// wire.MaxRanges ranges).
const maxRecordSize = 64 << 10

// RecordName is the resume record's name for destination p:
// "dir/.NAME.qxfer.resume", or for a long NAME "dir/.qxfer-HASH.qxfer.resume"
// (see PartName).
func RecordName(p string) string {
	return sideName(p, sideRecordSuffix)
}

// PartName is the temporary name a file is received under, beside its
// target: "dir/.NAME.qxfer.part". A NAME too long for that to fit in
// NAME_MAX (255 bytes) with every suffix, or that looks like a hashed
// side name itself, gives "dir/.qxfer-HASH.qxfer.part" instead, HASH being
// the first 128 bits of the SHA-256 of NAME in hex: side files fit
// whatever the target's name, and a record of such a name holds NAME.
func PartName(p string) string {
	return sideName(p, sidePartSuffix)
}

// The suffixes of a destination's side files (PartName, RecordName, and
// the temporary record of SaveRecord).
const (
	sidePartSuffix   = ".qxfer.part"
	sideRecordSuffix = ".qxfer.resume"
	sideTmpSuffix    = ".qxfer.resume.tmp"
)

// SideKind says which side file of a destination a name is.
type SideKind uint8

// The side files a receiver keeps beside a destination.
const (
	NotSide       SideKind = iota
	SidePart               // PartName: the bytes received so far
	SideRecord             // RecordName: the resume record
	SideRecordTmp          // RecordName + ".tmp": a record being written by SaveRecord
)

// SideFile reports whether the base name (no directory) is a side file
// of some destination, which kind, and a key shared by every side file
// of that destination: PartName(p), RecordName(p) and RecordName(p)+".tmp"
// give the same key, other destinations in the same directory another.
// It is what a sweep of abandoned partials matches names with, so the
// naming scheme lives here alone (TestSideFile checks it against
// PartName and RecordName). The key is only an identity: do not parse it.
func SideFile(name string) (key string, kind SideKind) {
	if !strings.HasPrefix(name, ".") || strings.ContainsRune(name, '/') {
		return "", NotSide
	}
	for _, k := range []struct {
		suffix string
		kind   SideKind
	}{{sidePartSuffix, SidePart}, {sideRecordSuffix, SideRecord}, {sideTmpSuffix, SideRecordTmp}} {
		if stem, ok := strings.CutSuffix(name, k.suffix); ok && len(stem) > 1 {
			return stem[1:], k.kind
		}
	}
	return "", NotSide
}

// nameMax is the longest file name, in bytes, on Linux and the BSDs
// (NAME_MAX; on Windows and macOS it is 255 UTF-16 units or characters,
// never fewer than 255 bytes of UTF-8 hold).
const nameMax = 255

// longestSide is the longest suffix of a side file, the record's
// temporary file: ".NAME" + longestSide must fit in nameMax.
const longestSide = sideTmpSuffix

// hashedPrefix starts the NAME part of a hashed side file's name.
const hashedPrefix = "qxfer-"

// sideHashed reports whether the side files of a target named name are
// named by its hash: when ".NAME.qxfer.resume.tmp" would not fit, or NAME
// has the form of a hashed NAME part (so no other name's hashed side
// files can be its own).
func sideHashed(name string) bool {
	if 1+len(name)+len(longestSide) > nameMax {
		return true
	}
	h, ok := strings.CutPrefix(name, hashedPrefix)
	if !ok || len(h) != 32 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil && strings.ToLower(h) == h
}

// sideName is the side file of destination p with suffix.
func sideName(p, suffix string) string {
	dir, name := path.Split(p)
	if sideHashed(name) {
		sum := sha256.Sum256([]byte(name))
		name = hashedPrefix + hex.EncodeToString(sum[:16])
	}
	return dir + "." + name + suffix
}

// newRecord is the record of a .part of the source m holding the ranges
// have, with the file hash sum of its prefix [0, hashed).
func newRecord(m FileMeta, have []wire.Range, hashed uint64, sum []byte) *Record {
	r := &Record{Size: m.Size, Ranges: have, Hashed: hashed, Sum: sum}
	r.MTime, r.MTimeSec, r.MTimeNsec = recordMTime(m.MTime)
	return r
}

// recordMTime splits t into the record's mtime fields: Unix nanoseconds
// where they hold it exactly, else seconds and nanoseconds.
func recordMTime(t time.Time) (ns, sec int64, nsec int32) {
	if fitsNanos(t) {
		return t.UnixNano(), 0, 0
	}
	return 0, t.Unix(), int32(t.Nanosecond())
}

// Matches reports whether r belongs to a source of this size and mtime,
// to the nanosecond, whatever the year.
func (r *Record) Matches(m FileMeta) bool {
	if r == nil || r.Size != m.Size {
		return false
	}
	ns, sec, nsec := recordMTime(m.MTime)
	return r.MTime == ns && r.MTimeSec == sec && r.MTimeNsec == nsec
}

// Held returns the durable ranges r lists.
func (r *Record) Held() RangeSet {
	s, _ := RangeSetOf(r.Ranges, r.Size)
	return s
}

// Offer is what a receiver holding r offers the sender: the durable
// ranges, and the file hash of their prefix from offset 0. Held bytes of
// that prefix beyond what the hash covers are left out (sent again): the
// sender can only trust a prefix it can check.
func (r *Record) Offer() (have []wire.Range, prefixHash []byte) {
	s := r.Held()
	if p := s.Prefix(); p > r.Hashed {
		s.Remove(r.Hashed, p-r.Hashed)
	}
	if r.Hashed > 0 {
		prefixHash = r.Sum
	}
	return s.Ranges(), prefixHash
}

// HashPrefix makes r's hash cover its whole held prefix, hashing what
// the record has no hash of from part, its .part: a delta's checkpoints
// record none (a delta is not verified by the whole-file hash), nor do
// records of protocol v2 or qxfer 1 (their prefix hash is a SHA-256),
// and a prefix with no hash would be left out of the offer and sent
// again. It changes r in memory only, and leaves it as it was when part
// cannot be read.
func (r *Record) HashPrefix(part io.ReaderAt) {
	held := r.Held()
	p := held.Prefix()
	if p <= r.Hashed {
		return
	}
	h := NewFileHash()
	var buf lazyChunk
	defer buf.release()
	if hashRange(part, 0, p, h, buf.get()) == nil {
		r.Hashed, r.Sum = p, h.Sum(nil)
	}
}

// LoadRecord reads the resume record of destination p and checks it
// against its .part: a record that lists ranges outside the file, or a
// .part shorter than the ranges it claims, is ignored. absent says no
// record file exists at all (there is none to remove). A missing or
// unusable record is nil: the transfer starts at 0.
func LoadRecord(root *os.Root, p string) (rec *Record, absent bool) {
	b, err := readSmallFile(root, RecordName(p), maxRecordSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, true
	}
	if err != nil {
		return nil, false
	}
	var r Record
	if json.Unmarshal(b, &r) != nil {
		return nil, false
	}
	switch r.Version {
	case recordV1:
		if r.Offset > r.Size || sha256.New().(encoding.BinaryUnmarshaler).UnmarshalBinary(r.State) != nil {
			return nil, false
		}
		r.Ranges = nil
		if r.Offset > 0 {
			r.Ranges = []wire.Range{{Offset: 0, Length: r.Offset}}
		}
	case recordV2:
		if r.Hashed > 0 && len(r.SHA256) != sha256.Size {
			return nil, false
		}
	case RecordVersion:
		if r.Hashed > 0 && len(r.Sum) != wire.HashSize {
			return nil, false
		}
	default:
		return nil, false
	}
	if _, name := path.Split(p); sideHashed(name) && r.Name != name {
		return nil, false
	}
	set, ok := RangeSetOf(r.Ranges, r.Size)
	if !ok || len(r.Ranges) > wire.MaxRanges || r.Hashed > set.Prefix() {
		return nil, false
	}
	fi, err := root.Stat(PartName(p))
	if err != nil || !fi.Mode().IsRegular() {
		return nil, false
	}
	if rs := set.Ranges(); len(rs) > 0 && uint64(fi.Size()) < rs[len(rs)-1].End() {
		return nil, false
	}
	if r.Version != RecordVersion {
		// An older record's prefix hash is not this protocol's: the
		// prefix is hashed again from the .part (HashPrefix).
		r.Version, r.Hashed, r.Sum, r.SHA256, r.Offset, r.State = RecordVersion, 0, nil, nil, 0, nil
	}
	r.Ranges = set.Ranges()
	return &r, false
}

// readSmallFile reads the regular file name under root, of at most limit
// bytes. It never blocks on a FIFO put there: the open does not wait
// (O_NONBLOCK), and anything but a regular file is refused.
func readSmallFile(root *os.Root, name string, limit int64) ([]byte, error) {
	f, err := root.OpenFile(name, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() || fi.Size() > limit {
		return nil, errors.New("not a regular file of a record's size")
	}
	return io.ReadAll(io.LimitReader(f, limit+1))
}

// SaveRecord writes r atomically (temporary file, fsync, rename).
func SaveRecord(root *os.Root, p string, r *Record) error {
	r.Version = RecordVersion
	if _, name := path.Split(p); sideHashed(name) {
		r.Name = name
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	tmp := RecordName(p) + ".tmp"
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
	return root.Rename(tmp, RecordName(p))
}

// RetryFromZero runs a transfer and, if it ends in a hash mismatch, once
// more without resuming: the receiver removes a .part it cannot trust (the
// whole-file hash failed, or the source is no longer the version its
// ranges came from), so a second attempt starts clean.
func RetryFromZero(run func(noResume bool) error) error {
	err := run(false)
	if errors.Is(err, &Error{Code: wire.HashMismatch}) {
		err = run(true)
	}
	return err
}

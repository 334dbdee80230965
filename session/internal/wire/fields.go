package wire

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/quic-go/quic-go/quicvarint"
)

// Field encodings shared by the messages:
//
//	varint  QUIC varint
//	string  varint length, then the bytes (limit per field)
//	bytes   varint length, then the bytes (limit per field)
//	hash    bytes of one exact length: HashSize (a file hash), or
//	        ChecksumSize (ChecksumResult's SHA-256)
//	bool    1 byte, 0 or 1
//	mtime   8 bytes, big-endian int64 Unix nanoseconds; or, for an instant
//	        that does not fit (before 1677-09-21, after 2262-04-11), the 8
//	        bytes 0x8000000000000000, then 8 bytes big-endian int64 Unix
//	        seconds and 4 bytes big-endian nanoseconds (below 10^9)
//	mode    varint, at most 0xFFFFFFFF
//	kind    1 byte, 1 to 4

// HashSize is the length of a file hash, the XXH64 of a file's bytes
// (big-endian; github.com/cespare/xxhash/v2, the digest rsync 3.2 also
// offers for its whole-file check), which every Seal and PrefixHash
// carries since protocol v3 (v2 carried SHA-256). PROTOCOL.md,
// "Integrity", says why a non-cryptographic hash is enough there.
const HashSize = 8

// ChecksumSize is the length of a SHA-256, the hash ChecksumResult
// carries (FIPS 180-4).
const ChecksumSize = 32

const (
	boolLen = 1
	kindLen = 1
	// mtimeLen is the length of an mtime field in nanoseconds, the form
	// of every instant between 1677 and 2262; mtimeWideLen that of the
	// wide form of the others.
	mtimeLen     = 8
	mtimeWideLen = 8 + 8 + 4
)

// mtimeWide is the nanosecond value that announces the wide form of an
// mtime: math.MinInt64, itself an instant (1677-09-21 00:12:43.145224192
// UTC) that the wide form then carries.
const mtimeWide int64 = math.MinInt64

// The instants the nanosecond form of an mtime holds: Unix nanoseconds in
// an int64, but for mtimeWide.
var (
	minMTime = time.Unix(0, mtimeWide+1)
	maxMTime = time.Unix(0, math.MaxInt64)
)

// mtimeFitsNanos reports whether t has the 8-byte form.
func mtimeFitsNanos(t time.Time) bool {
	return !t.Before(minMTime) && !t.After(maxMTime)
}

// mtimeSize is the encoded length of the mtime field holding t.
func mtimeSize(t time.Time) int {
	if mtimeFitsNanos(t) {
		return mtimeLen
	}
	return mtimeWideLen
}

func appendString[S string | []byte](b []byte, s S) []byte {
	b = quicvarint.Append(b, uint64(len(s)))
	return append(b, s...)
}

func stringLen[S string | []byte](s S) int {
	return quicvarint.Len(uint64(len(s))) + len(s)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// appendMTime appends t exactly: as Unix nanoseconds when it fits in the
// 8-byte form, else in the wide form (seconds and nanoseconds), so any
// instant a time.Time holds travels unchanged (an mtime in 2445 arrives as
// 2445, not as the 2262 an int64 of nanoseconds would clamp it to).
func appendMTime(b []byte, t time.Time) []byte {
	if mtimeFitsNanos(t) {
		return binary.BigEndian.AppendUint64(b, uint64(t.UnixNano()))
	}
	b = binary.BigEndian.AppendUint64(b, 1<<63)
	b = binary.BigEndian.AppendUint64(b, uint64(t.Unix()))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

// parser reads fields from a payload, for a codec that parses. The first
// error sticks: later reads return zero values, and finish reports the
// error.
type parser struct {
	b   []byte
	err error
}

func (p *parser) fail(field string, err error) {
	if p.err == nil {
		p.err = fmt.Errorf("%s: %w", field, err)
	}
}

// finish returns the first error, or ErrTrailingBytes if bytes are left.
func (p *parser) finish() error {
	if p.err == nil && len(p.b) > 0 {
		p.err = fmt.Errorf("%w (%d bytes)", ErrTrailingBytes, len(p.b))
	}
	return p.err
}

// more reports whether bytes are left for optional trailing fields (and
// no error so far).
func (p *parser) more() bool { return p.err == nil && len(p.b) > 0 }

// take consumes n bytes and returns them without copying.
func (p *parser) take(field string, n uint64) []byte {
	if p.err != nil {
		return nil
	}
	if n > uint64(len(p.b)) {
		p.fail(field, ErrTruncated)
		return nil
	}
	v := p.b[:n:n]
	p.b = p.b[n:]
	return v
}

func (p *parser) varint(field string) uint64 {
	if p.err != nil {
		return 0
	}
	v, n, err := quicvarint.Parse(p.b)
	if err != nil {
		p.fail(field, ErrTruncated)
		return 0
	}
	p.b = p.b[n:]
	return v
}

// length reads the varint length of a string or bytes field.
func (p *parser) length(field string, limit int) uint64 {
	n := p.varint(field)
	if p.err == nil && n > uint64(limit) {
		p.fail(field, fmt.Errorf("%w (%d > %d bytes)", ErrStringTooLong, n, limit))
	}
	return n
}

func (p *parser) string(field string, limit int) string {
	return string(p.take(field, p.length(field, limit)))
}

// bytes returns a copy of a bytes field; nil if it is empty.
func (p *parser) bytes(field string, limit int) []byte {
	v := p.take(field, p.length(field, limit))
	if len(v) == 0 {
		return nil
	}
	return append([]byte(nil), v...)
}

// optionalHash parses a hash field of size bytes that may also be
// empty (nil).
func (p *parser) optionalHash(field string, size int) []byte {
	n := p.varint(field)
	if p.err == nil && n != 0 && n != uint64(size) {
		p.fail(field, fmt.Errorf("%w: %d bytes, want %d", ErrBadHash, n, size))
	}
	v := p.take(field, n)
	if len(v) == 0 {
		return nil
	}
	return append([]byte(nil), v...)
}

// hash returns a copy of a hash field, which must be size bytes long.
func (p *parser) hash(field string, size int) []byte {
	n := p.varint(field)
	if p.err == nil && n != uint64(size) {
		p.fail(field, fmt.Errorf("%w: %d bytes, want %d", ErrBadHash, n, size))
	}
	v := p.take(field, n)
	if v == nil {
		return nil
	}
	return append([]byte(nil), v...)
}

func (p *parser) bool(field string) bool {
	v := p.take(field, boolLen)
	if v == nil {
		return false
	}
	if v[0] > 1 {
		p.fail(field, fmt.Errorf("%w (%#x)", ErrBadBool, v[0]))
	}
	return v[0] == 1
}

// mtime returns the time in UTC, so that decoded values compare equal with
// reflect.DeepEqual. The wide form must hold nanoseconds below 10^9 and
// an instant the 8-byte form cannot: each instant has one encoding.
func (p *parser) mtime(field string) time.Time {
	v := p.take(field, mtimeLen)
	if v == nil {
		return time.Time{}
	}
	ns := int64(binary.BigEndian.Uint64(v))
	if ns != mtimeWide {
		return time.Unix(0, ns).UTC()
	}
	w := p.take(field, mtimeWideLen-mtimeLen)
	if w == nil {
		return time.Time{}
	}
	sec, nsec := int64(binary.BigEndian.Uint64(w)), binary.BigEndian.Uint32(w[8:])
	t := time.Unix(sec, int64(nsec)).UTC()
	if nsec >= 1e9 || t.Unix() != sec || mtimeFitsNanos(t) {
		p.fail(field, fmt.Errorf("%w (%d s %d ns)", ErrBadMTime, sec, nsec))
		return time.Time{}
	}
	return t
}

func (p *parser) mode(field string) uint32 {
	v := p.varint(field)
	if v > math.MaxUint32 {
		p.fail(field, fmt.Errorf("%w (%#x)", ErrModeOverflow, v))
		return 0
	}
	return uint32(v)
}

func (p *parser) kind(field string) EntryKind {
	v := p.take(field, kindLen)
	if v == nil {
		return 0
	}
	k := EntryKind(v[0])
	if !k.valid() {
		p.fail(field, fmt.Errorf("%w (%d)", ErrBadKind, v[0]))
	}
	return k
}

func (p *parser) magic() [4]byte {
	var m [4]byte
	copy(m[:], p.take("magic", uint64(len(m))))
	if p.err == nil && string(m[:]) != Magic {
		p.fail("magic", fmt.Errorf("%w (%q)", ErrBadMagic, m[:]))
	}
	return m
}

// count reads the element count of a list whose elements take at least
// minLen bytes each. A count that cannot fit in the rest of the payload is
// rejected before anything is allocated for it.
func (p *parser) count(field string, minLen int) int {
	n := p.varint(field)
	if p.err == nil && n > uint64(len(p.b)/minLen) {
		p.fail(field, fmt.Errorf("%w (%d elements in %d bytes)", ErrTruncated, n, len(p.b)))
		return 0
	}
	return int(n)
}

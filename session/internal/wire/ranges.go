package wire

import (
	"fmt"

	"github.com/quic-go/quic-go/quicvarint"
)

// MaxRanges bounds the range list of an Accept or a Get.
const MaxRanges = 1024

// Range is a byte range [Offset, Offset+Length) of a file. Resume records
// store ranges as JSON objects keyed by these field names, so renaming a
// field (or tagging it) changes that format.
type Range struct {
	// Offset is the file offset of the first byte.
	Offset uint64
	// Length is the number of bytes.
	Length uint64
}

// End returns Offset+Length.
func (r Range) End() uint64 { return r.Offset + r.Length }

// minRangeLen is the length of the shortest encoded Range: two one-byte
// varints.
const minRangeLen = 2

// appendRanges appends rs as a range list:
//
//	Count (varint) | Count × (Offset (varint) | Length (varint))
func appendRanges(b []byte, rs []Range) []byte {
	b = quicvarint.Append(b, uint64(len(rs)))
	for _, r := range rs {
		b = quicvarint.Append(b, r.Offset)
		b = quicvarint.Append(b, r.Length)
	}
	return b
}

func rangesLen(rs []Range) int {
	n := quicvarint.Len(uint64(len(rs)))
	for _, r := range rs {
		n += quicvarint.Len(r.Offset) + quicvarint.Len(r.Length)
	}
	return n
}

// ranges reads a range list of at most MaxRanges ranges; nil if it is
// empty. The codec does not check that the ranges are sorted, disjoint or
// inside the file: that is the session's business.
func (p *parser) ranges(field string) []Range {
	n := p.count(field, minRangeLen)
	if p.err == nil && n > MaxRanges {
		p.fail(field, fmt.Errorf("%w (%d ranges > %d)", ErrTooManyRanges, n, MaxRanges))
		return nil
	}
	if n == 0 {
		return nil
	}
	rs := make([]Range, n)
	for i := range rs {
		rs[i] = Range{Offset: p.varint(field), Length: p.varint(field)}
	}
	return rs
}

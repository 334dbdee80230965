package wire

import (
	"fmt"
	"time"

	"github.com/quic-go/quic-go/quicvarint"
)

// codecOp is what a codec does with the fields run through it.
type codecOp uint8

const (
	// opAppend appends each field to codec.out.
	opAppend codecOp = iota
	// opParse reads each field from codec.p into the message.
	opParse
	// opSize adds the encoded length of each field to codec.n.
	opSize
)

// codec runs the fields of a message, in wire order, one way: it appends
// them, parses them or measures them. The layout of every message is
// written once, as the calls that [codec.message] makes for it (see
// layouts.go), and AppendFrame, ParseMessage and Entry.Len all run that
// one description, so the encoder, the decoder and the length cannot
// disagree.
//
// Parsing, the errors are the parser's: the first one sticks, later
// fields read zero values, and ParseMessage reports it with the field's
// name. Appending and measuring do not validate (see the package doc).
type codec struct {
	op  codecOp
	out []byte // opAppend: the payload so far
	n   int    // opSize: the length so far, in bytes
	p   parser // opParse: the rest of the payload
}

// parsing reports whether c reads fields into the message, so that a
// layout can check a decoded value, or leave its input untouched when
// encoding.
func (c *codec) parsing() bool { return c.op == opParse }

func (c *codec) varint(field string, v *uint64) {
	switch c.op {
	case opAppend:
		c.out = quicvarint.Append(c.out, *v)
	case opSize:
		c.n += quicvarint.Len(*v)
	default:
		*v = c.p.varint(field)
	}
}

// mode runs a mode field: a varint that must fit in 32 bits.
func (c *codec) mode(field string, v *uint32) {
	if c.op == opParse {
		*v = c.p.mode(field)
		return
	}
	w := uint64(*v)
	c.varint(field, &w)
}

// string runs a string field of at most limit bytes.
func (c *codec) string(field string, s *string, limit int) {
	if c.op == opParse {
		*s = c.p.string(field, limit)
		return
	}
	putText(c, *s)
}

// bytes runs a bytes field of at most limit bytes; parsed, an empty one
// is nil.
func (c *codec) bytes(field string, s *[]byte, limit int) {
	if c.op == opParse {
		*s = c.p.bytes(field, limit)
		return
	}
	putText(c, *s)
}

// putText appends or measures a string or bytes field.
func putText[S string | []byte](c *codec, s S) {
	if c.op == opSize {
		c.n += stringLen(s)
		return
	}
	c.out = appendString(c.out, s)
}

// hash runs a hash field: parsed, it must be size bytes long, or,
// optional, also empty (nil).
func (c *codec) hash(field string, h *[]byte, size int, optional bool) {
	switch {
	case c.op != opParse:
		putText(c, *h)
	case optional:
		*h = c.p.optionalHash(field, size)
	default:
		*h = c.p.hash(field, size)
	}
}

func (c *codec) bool(field string, v *bool) {
	switch c.op {
	case opAppend:
		c.out = appendBool(c.out, *v)
	case opSize:
		c.n += boolLen
	default:
		*v = c.p.bool(field)
	}
}

func (c *codec) mtime(field string, t *time.Time) {
	switch c.op {
	case opAppend:
		c.out = appendMTime(c.out, *t)
	case opSize:
		c.n += mtimeSize(*t)
	default:
		*t = c.p.mtime(field)
	}
}

func (c *codec) kind(field string, k *EntryKind) {
	if c.op == opParse {
		*k = c.p.kind(field)
		return
	}
	c.fixed(field, []byte{byte(*k)})
}

// fixed runs a field of len(b) bytes without a length prefix (a magic,
// a chunk sum, a flags byte). Parsed, b receives the bytes.
func (c *codec) fixed(field string, b []byte) {
	switch c.op {
	case opAppend:
		c.out = append(c.out, b...)
	case opSize:
		c.n += len(b)
	default:
		copy(b, c.p.take(field, uint64(len(b))))
	}
}

// magic runs the magic of a Hello or a Join: parsed, it must be [Magic].
func (c *codec) magic(m *[4]byte) {
	if c.op == opParse {
		*m = c.p.magic()
		return
	}
	c.fixed("magic", m[:])
}

// optional reports whether an optional trailing field is there: set,
// when encoding; parsing, whether bytes are left.
func (c *codec) optional(set bool) bool {
	if c.op == opParse {
		return c.p.more()
	}
	return set
}

// count runs the element count of a list of n elements and returns the
// count of the list to run: n, or parsing, the count read. A count that
// cannot fit in the rest of the payload (at minLen bytes an element)
// fails with ErrTruncated, and one above max with ErrTooManyRanges (max
// > 0: range lists, MaxRanges), both before anything is allocated.
func (c *codec) count(field string, minLen, max, n int) int {
	if c.op != opParse {
		v := uint64(n)
		c.varint(field, &v)
		return n
	}
	n = c.p.count(field, minLen)
	if c.p.err == nil && max > 0 && n > max {
		c.p.fail(field, fmt.Errorf("%w (%d ranges > %d)", ErrTooManyRanges, n, max))
		return 0
	}
	return n
}

// list returns the elements of a list field for the layout to run, n of
// them as count returned it: parsing, it first makes *s n zero elements
// (nil if n is 0).
func list[T any](c *codec, s *[]T, n int) []T {
	if c.op == opParse {
		*s = nil
		if n > 0 {
			*s = make([]T, n)
		}
	}
	return *s
}

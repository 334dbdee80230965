package wire

import (
	"fmt"

	"github.com/quic-go/quic-go/quicvarint"
)

// StreamType is the first varint of a unidirectional stream.
type StreamType uint64

// RangeStream is the type of a stream that carries one byte range of a
// file: a [RangeHeader], exactly Length bytes of the file, then FIN. It is
// the only unidirectional stream type of protocol v2; v1's data stream
// (0x51) is gone and, like any other type, fails with ErrUnknownStreamType.
const RangeStream StreamType = 0x52

// RangeHeader starts a range stream.
//
//	StreamType (varint, 0x52) | ID (varint) | Offset (varint) | Length (varint)
type RangeHeader struct {
	// ID is the ID of the Put or Get the range belongs to.
	ID uint64
	// Offset is the file offset of the first byte after the header.
	Offset uint64
	// Length is the number of file bytes after the header.
	Length uint64
}

// AppendRangeHeader appends h, with the RangeStream type, to b.
func AppendRangeHeader(b []byte, h RangeHeader) []byte {
	b = quicvarint.Append(b, uint64(RangeStream))
	b = quicvarint.Append(b, h.ID)
	b = quicvarint.Append(b, h.Offset)
	return quicvarint.Append(b, h.Length)
}

// ReadRangeHeader reads the header of a range stream from r and nothing
// more, so the file bytes can be read from r afterwards. It fails with
// ErrUnknownStreamType if the stream type is not RangeStream (without
// reading further), with io.EOF if r is empty and with io.ErrUnexpectedEOF
// if r ends inside the header; errors.Is finds any other read error.
func ReadRangeHeader(r quicvarint.Reader) (RangeHeader, error) {
	t, err := readVarint(r)
	if err != nil {
		return RangeHeader{}, err
	}
	if StreamType(t) != RangeStream {
		return RangeHeader{}, fmt.Errorf("%w %#x", ErrUnknownStreamType, t)
	}
	var h RangeHeader
	if h.ID, err = readVarint(r); err != nil {
		return RangeHeader{}, fmt.Errorf("range stream header: id: %w", noEOF(err))
	}
	if h.Offset, err = readVarint(r); err != nil {
		return RangeHeader{}, fmt.Errorf("range stream header: offset: %w", noEOF(err))
	}
	if h.Length, err = readVarint(r); err != nil {
		return RangeHeader{}, fmt.Errorf("range stream header: length: %w", noEOF(err))
	}
	return h, nil
}

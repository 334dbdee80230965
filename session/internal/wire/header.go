package wire

import (
	"fmt"

	"github.com/quic-go/quic-go/quicvarint"
)

// HashSize is the length of a SHA-256 hash: the data stream trailer and
// every non-empty hash field.
const HashSize = 32

// StreamType is the first varint of a unidirectional stream.
type StreamType uint64

// DataStream is the type of a stream that carries the bytes of one file.
const DataStream StreamType = 0x51

// StreamHeader starts a data stream. The file bytes from Offset to the end
// of the file follow it, then the HashSize-byte SHA-256 of the whole file.
//
//	StreamType (varint, 0x51) | ID (varint) | Offset (varint)
type StreamHeader struct {
	// ID is the ID of the Put or Get the stream belongs to.
	ID uint64
	// Offset is the file offset of the first byte after the header.
	Offset uint64
}

// AppendStreamHeader appends h, with the DataStream type, to b.
func AppendStreamHeader(b []byte, h StreamHeader) []byte {
	b = quicvarint.Append(b, uint64(DataStream))
	b = quicvarint.Append(b, h.ID)
	return quicvarint.Append(b, h.Offset)
}

// ReadStreamHeader reads the header of a data stream from r and nothing
// more, so the file bytes can be read from r afterwards. It fails with
// ErrUnknownStreamType if the stream type is not DataStream, with io.EOF if
// r is empty and with io.ErrUnexpectedEOF if r ends inside the header.
func ReadStreamHeader(r quicvarint.Reader) (StreamHeader, error) {
	t, err := readVarint(r)
	if err != nil {
		return StreamHeader{}, err
	}
	if StreamType(t) != DataStream {
		return StreamHeader{}, fmt.Errorf("%w %#x", ErrUnknownStreamType, t)
	}
	var h StreamHeader
	if h.ID, err = readVarint(r); err != nil {
		return StreamHeader{}, fmt.Errorf("data stream header: id: %w", noEOF(err))
	}
	if h.Offset, err = readVarint(r); err != nil {
		return StreamHeader{}, fmt.Errorf("data stream header: offset: %w", noEOF(err))
	}
	return h, nil
}

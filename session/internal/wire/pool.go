package wire

import (
	"fmt"
	"time"

	"github.com/quic-go/quic-go/quicvarint"
)

// Frames and streams of connection pools and striped transfers (see
// PROTOCOL.md, "Connection pools"). A session may add data-only
// connections that join it with the Welcome's token; a striped file
// travels as ranges on range streams of any connection of the pool, and
// its whole-file hash in a Seal.
const (
	FrameTypeJoin         FrameType = 0x10
	FrameTypeStripeAccept FrameType = 0x11
	FrameTypeStripeGet    FrameType = 0x12
	FrameTypeSeal         FrameType = 0x13
	FrameTypeAck          FrameType = 0x14
	FrameTypeDrop         FrameType = 0x15
)

// FlagStriped in a Put says the client sends the file as ranges on range
// streams (possibly on several connections) followed by a Seal; the server
// answers StripeAccept instead of Accept.
const FlagStriped PutFlags = 1 << 2

// MaxRanges bounds the ranges of a StripeAccept or StripeGet.
const MaxRanges = 1024

// Range is a byte range [Offset, Offset+Length) of a file.
type Range struct {
	Offset uint64
	Length uint64
}

// End returns Offset+Length.
func (r Range) End() uint64 { return r.Offset + r.Length }

const minRangeLen = 2 // two one-byte varints

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

// Join is the first frame on the command stream of a pool connection: the
// client adds this connection to the session whose Welcome carried Token.
// The server answers Welcome or Reject{ID: 0}.
//
//	Magic (4 bytes) | Version (varint) | Token (bytes)
type Join struct {
	Magic   [4]byte
	Version uint64
	// Token is the Welcome.Token of the session to join; at most
	// MaxTokenLen bytes.
	Token []byte
}

// Type returns FrameTypeJoin.
func (*Join) Type() FrameType { return FrameTypeJoin }

// Append appends the payload of m to b.
func (m *Join) Append(b []byte) []byte {
	b = append(b, m.Magic[:]...)
	b = quicvarint.Append(b, m.Version)
	return appendString(b, m.Token)
}

// Len returns the payload length of m.
func (m *Join) Len() int {
	return len(m.Magic) + quicvarint.Len(m.Version) + stringLen(m.Token)
}

func parseJoin(p *parser) Message {
	return &Join{Magic: p.magic(), Version: p.varint("version"), Token: p.bytes("token", MaxTokenLen)}
}

// StripeAccept answers a Put with FlagStriped: the server takes the file
// and already holds the Have ranges of it (from an interrupted transfer of
// the same size and mtime); the client sends the rest.
//
//	ID (varint) | Count (varint) | Count × (Offset (varint) | Length (varint))
type StripeAccept struct {
	ID   uint64
	Have []Range
}

// Type returns FrameTypeStripeAccept.
func (*StripeAccept) Type() FrameType { return FrameTypeStripeAccept }

// Append appends the payload of m to b.
func (m *StripeAccept) Append(b []byte) []byte {
	return appendRanges(quicvarint.Append(b, m.ID), m.Have)
}

// Len returns the payload length of m.
func (m *StripeAccept) Len() int { return quicvarint.Len(m.ID) + rangesLen(m.Have) }

func parseStripeAccept(p *parser) Message {
	return &StripeAccept{ID: p.varint("id"), Have: p.ranges("have")}
}

// StripeGet asks for a striped pull. Have lists the ranges the client
// already holds of a version of the file with this Size and MTime; the
// server sends the rest as ranges and a Seal, after a FileInfo. If the
// file is no longer that version, the server answers
// Reject{HashMismatch} and the client starts over.
//
//	ID (varint) | Path (string) | Size (varint) | MTime (8 bytes) | Flags (varint) | Count (varint) | Count × Range
type StripeGet struct {
	ID    uint64
	Path  string
	Size  uint64
	MTime time.Time
	Flags PutFlags
	Have  []Range
}

// Type returns FrameTypeStripeGet.
func (*StripeGet) Type() FrameType { return FrameTypeStripeGet }

// Append appends the payload of m to b.
func (m *StripeGet) Append(b []byte) []byte {
	b = quicvarint.Append(b, m.ID)
	b = appendString(b, m.Path)
	b = quicvarint.Append(b, m.Size)
	b = appendMTime(b, m.MTime)
	b = quicvarint.Append(b, uint64(m.Flags))
	return appendRanges(b, m.Have)
}

// Len returns the payload length of m.
func (m *StripeGet) Len() int {
	return quicvarint.Len(m.ID) + stringLen(m.Path) + quicvarint.Len(m.Size) + mtimeLen +
		quicvarint.Len(uint64(m.Flags)) + rangesLen(m.Have)
}

func parseStripeGet(p *parser) Message {
	return &StripeGet{
		ID:    p.varint("id"),
		Path:  p.string("path", MaxPathLen),
		Size:  p.varint("size"),
		MTime: p.mtime("mtime"),
		Flags: PutFlags(p.varint("flags")),
		Have:  p.ranges("have"),
	}
}

// Seal carries the SHA-256 of the whole file of a striped transfer, sent
// by the sender once it has read the whole file and seen it unchanged.
// The receiver checks the assembled file against it before the rename.
//
//	ID (varint) | Hash (hash, exactly HashSize bytes)
type Seal struct {
	ID   uint64
	Hash []byte
}

// Type returns FrameTypeSeal.
func (*Seal) Type() FrameType { return FrameTypeSeal }

// Append appends the payload of m to b.
func (m *Seal) Append(b []byte) []byte {
	return appendString(quicvarint.Append(b, m.ID), m.Hash)
}

// Len returns the payload length of m.
func (m *Seal) Len() int { return quicvarint.Len(m.ID) + stringLen(m.Hash) }

func parseSeal(p *parser) Message {
	m := &Seal{ID: p.varint("id"), Hash: p.hash("hash")}
	if p.err == nil && len(m.Hash) != HashSize {
		p.fail("hash", fmt.Errorf("%w (a seal needs %d bytes)", ErrBadHash, HashSize))
	}
	return m
}

// Ack tells the sender of a striped transfer that the receiver has
// written the range [Offset, Offset+Length): it need not be sent again,
// even if the connection that carried it dies.
//
//	ID (varint) | Offset (varint) | Length (varint)
type Ack struct {
	ID     uint64
	Offset uint64
	Length uint64
}

// Type returns FrameTypeAck.
func (*Ack) Type() FrameType { return FrameTypeAck }

// Append appends the payload of m to b.
func (m *Ack) Append(b []byte) []byte {
	b = quicvarint.Append(b, m.ID)
	b = quicvarint.Append(b, m.Offset)
	return quicvarint.Append(b, m.Length)
}

// Len returns the payload length of m.
func (m *Ack) Len() int {
	return quicvarint.Len(m.ID) + quicvarint.Len(m.Offset) + quicvarint.Len(m.Length)
}

func parseAck(p *parser) Message {
	return &Ack{ID: p.varint("id"), Offset: p.varint("offset"), Length: p.varint("length")}
}

// Drop, on the primary command channel, tells the server that the pool
// connection whose Welcome carried Token is dead to the client: the
// server closes it at once, so the ranges it was sending there go to the
// other connections now rather than at its idle timeout.
//
//	Token (bytes)
type Drop struct {
	Token []byte
}

// Type returns FrameTypeDrop.
func (*Drop) Type() FrameType { return FrameTypeDrop }

// Append appends the payload of m to b.
func (m *Drop) Append(b []byte) []byte { return appendString(b, m.Token) }

// Len returns the payload length of m.
func (m *Drop) Len() int { return stringLen(m.Token) }

func parseDrop(p *parser) Message { return &Drop{Token: p.bytes("token", MaxTokenLen)} }

// RangeStream is the type of a stream that carries one byte range of a
// striped file: exactly Length bytes follow the header, then FIN.
//
//	StreamType (varint, 0x52) | ID (varint) | Offset (varint) | Length (varint)
const RangeStream StreamType = 0x52

// AnyHeader is the header of a data or range stream.
type AnyHeader struct {
	Type   StreamType // DataStream or RangeStream
	ID     uint64
	Offset uint64
	Length uint64 // RangeStream only
}

// AppendRangeHeader appends the header of a range stream to b.
func AppendRangeHeader(b []byte, id, offset, length uint64) []byte {
	b = quicvarint.Append(b, uint64(RangeStream))
	b = quicvarint.Append(b, id)
	b = quicvarint.Append(b, offset)
	return quicvarint.Append(b, length)
}

// AppendAnyHeader appends h, of either type, to b.
func AppendAnyHeader(b []byte, h AnyHeader) []byte {
	if h.Type == RangeStream {
		return AppendRangeHeader(b, h.ID, h.Offset, h.Length)
	}
	return AppendStreamHeader(b, StreamHeader{ID: h.ID, Offset: h.Offset})
}

// ReadAnyHeader reads the header of a data or range stream and nothing
// more. Other stream types fail with ErrUnknownStreamType.
func ReadAnyHeader(r quicvarint.Reader) (AnyHeader, error) {
	t, err := readVarint(r)
	if err != nil {
		return AnyHeader{}, err
	}
	h := AnyHeader{Type: StreamType(t)}
	switch h.Type {
	case DataStream, RangeStream:
	default:
		return AnyHeader{}, fmt.Errorf("%w %#x", ErrUnknownStreamType, t)
	}
	if h.ID, err = readVarint(r); err != nil {
		return AnyHeader{}, fmt.Errorf("stream header: id: %w", noEOF(err))
	}
	if h.Offset, err = readVarint(r); err != nil {
		return AnyHeader{}, fmt.Errorf("stream header: offset: %w", noEOF(err))
	}
	if h.Type == RangeStream {
		if h.Length, err = readVarint(r); err != nil {
			return AnyHeader{}, fmt.Errorf("stream header: length: %w", noEOF(err))
		}
	}
	return h, nil
}

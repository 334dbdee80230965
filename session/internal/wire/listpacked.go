package wire

import (
	"errors"
	"fmt"
	"time"

	"github.com/quic-go/quic-go/quicvarint"
)

// Features and packed listings (issue 17: the listings of a no-op push
// of a tree are most of its bytes on the wire). PROTOCOL.md, "Features"
// and "Packed listings".

// FeatureBits is a set of optional protocol features.
type FeatureBits uint64

// The optional features. A peer ignores bits it does not know.
const (
	// FeatureListPacked: the server answers ListPacked.
	FeatureListPacked FeatureBits = 1 << 0
)

// Features asks the server which optional features it has: Bits are the
// ones the client can use. The server answers with a FeaturesResult (a
// server that predates Features skips the frame, as any unknown one, and
// answers nothing).
//
//	ID (varint) | Bits (varint)
type Features struct {
	ID   uint64
	Bits FeatureBits
}

// Type returns FrameTypeFeatures.
func (*Features) Type() FrameType { return FrameTypeFeatures }

// Append appends the payload of m to b.
func (m *Features) Append(b []byte) []byte {
	b = quicvarint.Append(b, m.ID)
	return quicvarint.Append(b, uint64(m.Bits))
}

// Len returns the payload length of m.
func (m *Features) Len() int { return quicvarint.Len(m.ID) + quicvarint.Len(uint64(m.Bits)) }

func parseFeatures(p *parser) Message {
	return &Features{ID: p.varint("id"), Bits: FeatureBits(p.varint("bits"))}
}

// FeaturesResult answers Features with the features of the request the
// server has. Its fields and layout are Features'.
//
//	ID (varint) | Bits (varint)
type FeaturesResult Features

// Type returns FrameTypeFeaturesResult.
func (*FeaturesResult) Type() FrameType { return FrameTypeFeaturesResult }

// Append appends the payload of m to b.
func (m *FeaturesResult) Append(b []byte) []byte { return (*Features)(m).Append(b) }

// Len returns the payload length of m.
func (m *FeaturesResult) Len() int { return (*Features)(m).Len() }

func parseFeaturesResult(p *parser) Message {
	return (*FeaturesResult)(parseFeatures(p).(*Features))
}

// ListPacked is List, answered with ListPackedResult frames (or, where
// the server has no packed form, ListResult frames), or a Reject. A
// client sends it only to a server whose FeaturesResult had
// FeatureListPacked. Its fields and layout are List's.
//
//	ID (varint) | Path (string)
type ListPacked List

// Type returns FrameTypeListPacked.
func (*ListPacked) Type() FrameType { return FrameTypeListPacked }

// Append appends the payload of m to b.
func (m *ListPacked) Append(b []byte) []byte { return (*List)(m).Append(b) }

// Len returns the payload length of m.
func (m *ListPacked) Len() int { return (*List)(m).Len() }

func parseListPacked(p *parser) Message { return (*ListPacked)(parseList(p).(*List)) }

// ListPackedResult is ListResult with each entry encoded against the one
// before it in the frame (the first against an empty name, mode 0 and
// the Unix epoch), as rsync's file list is:
//
//	ID (varint) | Last (bool) | Count (varint) | Count × PackedEntry
//	PackedEntry: Flags (1 byte) | Shared (varint) | Suffix (string)
//	             | [Size (varint)] | [Mode (varint)] | [MTime]
//
// Flags holds the kind in its low 3 bits, packedSameMode (0x08: no Mode,
// the previous entry's), packedSameMTime (0x10: no MTime, the previous
// entry's) and packedZeroSize (0x20: no Size, 0); other bits must be 0.
// The name is the previous name's first Shared bytes followed by Suffix.
// A sender keeps a frame within MaxFrameSize with Entry.Len()+2 per entry
// (the packed form is never longer).
type ListPackedResult struct {
	ID      uint64
	Last    bool
	Entries []Entry
}

const (
	packedKindMask  = 0x07
	packedSameMode  = 0x08
	packedSameMTime = 0x10
	packedZeroSize  = 0x20
)

// packedEpoch is the mtime the first entry of a frame is encoded
// against.
var packedEpoch = time.Unix(0, 0).UTC()

// ErrBadPacked says a packed entry's flags or shared prefix are invalid.
var ErrBadPacked = errors.New("bad packed entry")

// Type returns FrameTypeListPackedResult.
func (*ListPackedResult) Type() FrameType { return FrameTypeListPackedResult }

// Append appends the payload of m to b.
func (m *ListPackedResult) Append(b []byte) []byte {
	b = quicvarint.Append(b, m.ID)
	b = appendBool(b, m.Last)
	b = quicvarint.Append(b, uint64(len(m.Entries)))
	prev := Entry{MTime: packedEpoch}
	for i := range m.Entries {
		e := &m.Entries[i]
		flags, shared := packedHead(&prev, e)
		b = append(b, flags)
		b = quicvarint.Append(b, uint64(shared))
		b = appendString(b, e.Name[shared:])
		if flags&packedZeroSize == 0 {
			b = quicvarint.Append(b, e.Size)
		}
		if flags&packedSameMode == 0 {
			b = quicvarint.Append(b, uint64(e.Mode))
		}
		if flags&packedSameMTime == 0 {
			b = appendMTime(b, e.MTime)
		}
		prev = *e
	}
	return b
}

// Len returns the payload length of m.
func (m *ListPackedResult) Len() int {
	n := quicvarint.Len(m.ID) + boolLen + quicvarint.Len(uint64(len(m.Entries)))
	prev := Entry{MTime: packedEpoch}
	for i := range m.Entries {
		e := &m.Entries[i]
		flags, shared := packedHead(&prev, e)
		n += 1 + quicvarint.Len(uint64(shared)) + stringLen(e.Name[shared:])
		if flags&packedZeroSize == 0 {
			n += quicvarint.Len(e.Size)
		}
		if flags&packedSameMode == 0 {
			n += quicvarint.Len(uint64(e.Mode))
		}
		if flags&packedSameMTime == 0 {
			n += mtimeSize(e.MTime)
		}
		prev = *e
	}
	return n
}

// packedHead is the flags byte of e after prev, and the length of the
// prefix their names share.
func packedHead(prev, e *Entry) (flags byte, shared int) {
	flags = byte(e.Kind) & packedKindMask
	if e.Mode == prev.Mode {
		flags |= packedSameMode
	}
	if e.MTime.Equal(prev.MTime) {
		flags |= packedSameMTime
	}
	if e.Size == 0 {
		flags |= packedZeroSize
	}
	for shared < len(e.Name) && shared < len(prev.Name) && e.Name[shared] == prev.Name[shared] {
		shared++
	}
	return flags, shared
}

// minPackedEntryLen is the length of the shortest packed entry: flags,
// shared and suffix length, nothing else.
const minPackedEntryLen = 3

func parseListPackedResult(p *parser) Message {
	m := &ListPackedResult{ID: p.varint("id"), Last: p.bool("last")}
	n := p.count("entry count", minPackedEntryLen)
	if n > 0 {
		m.Entries = make([]Entry, 0, n)
	}
	prev := Entry{MTime: packedEpoch}
	for range n {
		e := p.packedEntry(&prev)
		if p.err != nil {
			return m
		}
		m.Entries = append(m.Entries, e)
		prev = e
	}
	return m
}

func (p *parser) packedEntry(prev *Entry) Entry {
	head := p.take("flags", 1)
	if head == nil {
		return Entry{}
	}
	flags := head[0]
	e := Entry{Kind: EntryKind(flags & packedKindMask)}
	if !e.Kind.valid() || flags&^(packedKindMask|packedSameMode|packedSameMTime|packedZeroSize) != 0 {
		p.fail("flags", fmt.Errorf("%w (flags %#x)", ErrBadPacked, flags))
		return Entry{}
	}
	shared := p.varint("shared")
	if p.err == nil && shared > uint64(len(prev.Name)) {
		p.fail("shared", fmt.Errorf("%w (%d bytes shared with a name of %d)", ErrBadPacked, shared, len(prev.Name)))
	}
	suffix := p.take("name", p.length("name", MaxPathLen-int(min(shared, MaxPathLen))))
	if p.err != nil {
		return Entry{}
	}
	e.Name = prev.Name[:shared] + string(suffix)
	if flags&packedZeroSize == 0 {
		e.Size = p.varint("size")
	}
	e.Mode = prev.Mode
	if flags&packedSameMode == 0 {
		e.Mode = p.mode("mode")
	}
	e.MTime = prev.MTime
	if flags&packedSameMTime == 0 {
		e.MTime = p.mtime("mtime")
	}
	return e
}

package wire

import (
	"errors"
	"fmt"
	"time"
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

// FeaturesResult answers Features with the features of the request the
// server has. Its fields and layout are Features'.
//
//	ID (varint) | Bits (varint)
type FeaturesResult Features

// Type returns FrameTypeFeaturesResult.
func (*FeaturesResult) Type() FrameType { return FrameTypeFeaturesResult }

// ListPacked is List, answered with ListPackedResult frames (or, where
// the server has no packed form, ListResult frames), or a Reject. A
// client sends it only to a server whose FeaturesResult had
// FeatureListPacked. Its fields and layout are List's.
//
//	ID (varint) | Path (string)
type ListPacked List

// Type returns FrameTypeListPacked.
func (*ListPacked) Type() FrameType { return FrameTypeListPacked }

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

// packedEntry runs e packed against prev. Parsing, e is zero until it
// is read; the flags must hold a valid kind and no other bits, and the
// shared prefix must fit in prev's name.
func (c *codec) packedEntry(prev, e *Entry) {
	flags, n := packedHead(prev, e)
	head := [1]byte{flags}
	c.fixed("flags", head[:])
	if flags = head[0]; c.parsing() && c.p.err == nil && (!EntryKind(flags&packedKindMask).valid() ||
		flags&^(packedKindMask|packedSameMode|packedSameMTime|packedZeroSize) != 0) {
		c.p.fail("flags", fmt.Errorf("%w (flags %#x)", ErrBadPacked, flags))
	}
	shared := uint64(n)
	c.varint("shared", &shared)
	if c.parsing() {
		if c.p.err == nil && shared > uint64(len(prev.Name)) {
			c.p.fail("shared", fmt.Errorf("%w (%d bytes shared with a name of %d)", ErrBadPacked, shared, len(prev.Name)))
		}
		// Read as bytes, so that the name is built in one allocation.
		suffix := c.p.take("name", c.p.length("name", MaxPathLen-int(min(shared, MaxPathLen))))
		if c.p.err != nil {
			return
		}
		*e = Entry{Name: prev.Name[:shared] + string(suffix), Kind: EntryKind(flags & packedKindMask), Mode: prev.Mode, MTime: prev.MTime}
	} else {
		suffix := e.Name[n:]
		c.string("name", &suffix, MaxPathLen)
	}
	if flags&packedZeroSize == 0 {
		c.varint("size", &e.Size)
	}
	if flags&packedSameMode == 0 {
		c.mode("mode", &e.Mode)
	}
	if flags&packedSameMTime == 0 {
		c.mtime("mtime", &e.MTime)
	}
}

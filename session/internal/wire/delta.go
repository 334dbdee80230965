package wire

import "github.com/quic-go/quic-go/quicvarint"

// Frames of a delta transfer (see PROTOCOL.md, "Delta"). A receiver that
// holds an older version of a file describes it as content-defined chunks
// (DeltaSig); the sender answers with the chunks of the new version it
// found among them (DeltaPlan); the receiver copies those into its .part
// and the ordinary transfer sends the rest. In a pull the client then
// tells the server what it holds (DeltaHave).

// FlagDelta in a Put or Get says the client can take part in a delta
// transfer of this file: in a Put, the server may answer with DeltaSig
// frames before its Accept; in a Get, the client's DeltaSig frames follow
// it and the server may answer with DeltaPlan frames before its FileInfo.
// A peer that does not know the bit ignores it (and skips the frames).
const FlagDelta TransferFlags = 1 << 8

// SumSize is the length in bytes of a chunk's BLAKE3 sum in DeltaSig and
// DeltaPlan (the default BLAKE3 output, 256 bits).
const SumSize = 32

// ChunkSum is the BLAKE3-256 of one chunk.
type ChunkSum [SumSize]byte

// SigChunk is one chunk of the receiver's version of a file. Chunks
// follow each other from offset 0, so their offsets are implied.
type SigChunk struct {
	// Length is the chunk's length in bytes.
	Length uint64
	// Sum is the BLAKE3-256 of the chunk.
	Sum ChunkSum
}

// MaxSigChunks is the most chunks a DeltaSig may carry: as many as fit
// MaxFrameSize with every varint at its longest (8 bytes), so an encoder
// that fills frames up to it never builds a frame that is too large.
const MaxSigChunks = (MaxFrameSize - 32) / (8 + SumSize)

// DeltaSig carries chunks of the receiver's version of a file, in file
// order from offset 0, continuing the DeltaSig frames before it for the
// same ID; Last marks the final frame (which may be empty).
//
//	ID (varint) | Last (bool) | Count (varint) | Count × (Length (varint) | Sum (32 bytes))
type DeltaSig struct {
	// ID is the ID of the Put or Get.
	ID uint64
	// Last says no DeltaSig follows for this ID.
	Last bool
	// Chunks are the next chunks of the old version; at most
	// MaxSigChunks.
	Chunks []SigChunk
}

// Type returns FrameTypeDeltaSig.
func (*DeltaSig) Type() FrameType { return FrameTypeDeltaSig }

// Append appends the payload of m to b.
func (m *DeltaSig) Append(b []byte) []byte {
	b = quicvarint.Append(b, m.ID)
	b = appendBool(b, m.Last)
	b = quicvarint.Append(b, uint64(len(m.Chunks)))
	for _, c := range m.Chunks {
		b = quicvarint.Append(b, c.Length)
		b = append(b, c.Sum[:]...)
	}
	return b
}

// Len returns the payload length of m.
func (m *DeltaSig) Len() int {
	n := quicvarint.Len(m.ID) + 1 + quicvarint.Len(uint64(len(m.Chunks)))
	for _, c := range m.Chunks {
		n += quicvarint.Len(c.Length) + SumSize
	}
	return n
}

func parseDeltaSig(p *parser) Message {
	m := &DeltaSig{ID: p.varint("id"), Last: p.bool("last")}
	n := p.count("chunks", 1+SumSize)
	if n > 0 {
		m.Chunks = make([]SigChunk, n)
	}
	for i := range m.Chunks {
		m.Chunks[i].Length = p.varint("chunk length")
		p.sum("chunk sum", &m.Chunks[i].Sum)
	}
	return m
}

// CopyOp says the bytes [Offset, Offset+Length) of the new version of a
// file are the bytes [Source, Source+Length) of the receiver's old
// version, whose BLAKE3-256 is Sum.
type CopyOp struct {
	// Offset is where the bytes go in the new version.
	Offset uint64
	// Source is where they are in the old version.
	Source uint64
	// Length is the number of bytes.
	Length uint64
	// Sum is the BLAKE3-256 of those bytes, as the receiver's DeltaSig
	// gave it.
	Sum ChunkSum
}

// MaxPlanOps is the most copy operations a DeltaPlan may carry (see
// MaxSigChunks for the bound).
const MaxPlanOps = (MaxFrameSize - 32) / (3*8 + SumSize)

// DeltaPlan carries the sender's copy operations for the receiver, in
// increasing Offset, continuing the DeltaPlan frames before it for the
// same ID; Last marks the final frame. An empty plan with Last set says
// the new version shares nothing worth copying: the file is sent whole.
//
//	ID (varint) | Last (bool) | Count (varint) |
//	Count × (Offset (varint) | Source (varint) | Length (varint) | Sum (32 bytes))
type DeltaPlan struct {
	// ID is the ID of the Put or Get.
	ID uint64
	// Last says no DeltaPlan follows for this ID.
	Last bool
	// Ops are the next copy operations; at most MaxPlanOps.
	Ops []CopyOp
}

// Type returns FrameTypeDeltaPlan.
func (*DeltaPlan) Type() FrameType { return FrameTypeDeltaPlan }

// Append appends the payload of m to b.
func (m *DeltaPlan) Append(b []byte) []byte {
	b = quicvarint.Append(b, m.ID)
	b = appendBool(b, m.Last)
	b = quicvarint.Append(b, uint64(len(m.Ops)))
	for _, o := range m.Ops {
		b = quicvarint.Append(b, o.Offset)
		b = quicvarint.Append(b, o.Source)
		b = quicvarint.Append(b, o.Length)
		b = append(b, o.Sum[:]...)
	}
	return b
}

// Len returns the payload length of m.
func (m *DeltaPlan) Len() int {
	n := quicvarint.Len(m.ID) + 1 + quicvarint.Len(uint64(len(m.Ops)))
	for _, o := range m.Ops {
		n += quicvarint.Len(o.Offset) + quicvarint.Len(o.Source) + quicvarint.Len(o.Length) + SumSize
	}
	return n
}

func parseDeltaPlan(p *parser) Message {
	m := &DeltaPlan{ID: p.varint("id"), Last: p.bool("last")}
	n := p.count("ops", 3+SumSize)
	if n > 0 {
		m.Ops = make([]CopyOp, n)
	}
	for i := range m.Ops {
		o := &m.Ops[i]
		o.Offset = p.varint("op offset")
		o.Source = p.varint("op source")
		o.Length = p.varint("op length")
		p.sum("op sum", &o.Sum)
	}
	return m
}

// DeltaHave ends a pull's delta: the client has copied the plan's chunks
// into its .part and holds Have (with PrefixHash, the SHA-256 of the
// first range when it starts at offset 0, as in Get); the server sends
// the rest.
//
//	ID (varint) | Have (ranges) | PrefixHash (optional hash)
type DeltaHave struct {
	// ID is the ID of the Get.
	ID uint64
	// Have are the ranges the client holds; at most MaxRanges.
	Have []Range
	// PrefixHash is the SHA-256 of the first Have range if it starts at
	// offset 0, nil otherwise.
	PrefixHash []byte
}

// Type returns FrameTypeDeltaHave.
func (*DeltaHave) Type() FrameType { return FrameTypeDeltaHave }

// Append appends the payload of m to b.
func (m *DeltaHave) Append(b []byte) []byte {
	b = quicvarint.Append(b, m.ID)
	b = appendRanges(b, m.Have)
	return appendString(b, m.PrefixHash)
}

// Len returns the payload length of m.
func (m *DeltaHave) Len() int {
	return quicvarint.Len(m.ID) + rangesLen(m.Have) + stringLen(m.PrefixHash)
}

func parseDeltaHave(p *parser) Message {
	return &DeltaHave{ID: p.varint("id"), Have: p.ranges("have"), PrefixHash: p.optionalHash("prefix hash")}
}

// sum reads a fixed 32-byte chunk sum into s.
func (p *parser) sum(field string, s *ChunkSum) {
	if b := p.take(field, SumSize); b != nil {
		copy(s[:], b)
	}
}

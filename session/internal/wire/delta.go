package wire

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
// It was 1 << 8 in the first delta revision, sealed by the whole-file
// SHA-256: a peer of that revision and this one send each other's
// deltas whole.
const FlagDelta TransferFlags = 1 << 9

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

// DeltaHave ends a pull's delta: the client has copied the plan's chunks
// into its .part and holds Have (with PrefixHash, the file hash of the
// first range when it starts at offset 0, as in Get); the server sends
// the rest.
//
//	ID (varint) | Have (ranges) | PrefixHash (optional hash)
type DeltaHave struct {
	// ID is the ID of the Get.
	ID uint64
	// Have are the ranges the client holds; at most MaxRanges.
	Have []Range
	// PrefixHash is sent nil and ignored: a delta's copied ranges are
	// checked chunk by chunk, and its Seal carries the BLAKE3-256 of
	// the bytes outside Have (PROTOCOL.md, "Delta", "Verification").
	// The field keeps the frame's layout of the first delta revision.
	PrefixHash []byte
}

// Type returns FrameTypeDeltaHave.
func (*DeltaHave) Type() FrameType { return FrameTypeDeltaHave }

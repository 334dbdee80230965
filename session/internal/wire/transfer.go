package wire

import "time"

// Frames of transfers (see PROTOCOL.md, "Transfers"). Every file travels
// as byte ranges on range streams (see [RangeHeader]) over the connections
// of the session's pool; the receiver acknowledges each range with an
// Ack, the sender ends with a Seal carrying the whole-file hash, and the
// receiver gives its verdict with a Done.

// TransferFlags modify a Put or a Get. Bits this version does not define
// are carried as is and ignored.
type TransferFlags uint64

// The TransferFlags bits. Bit 2 (0x4) is reserved: it was FlagStriped in
// protocol v1, and a v2 peer ignores it.
const (
	// FlagForce asks the receiver to replace an existing destination that
	// differs: it does not reject the transfer with Exists. An identical
	// destination is still up to date.
	FlagForce TransferFlags = 1 << 0
	// FlagNoResume makes the receiver ignore any partial file: it offers
	// no ranges (Accept.Have, Get.Have), and a server ignores the Have of
	// a Get that carries this flag.
	FlagNoResume TransferFlags = 1 << 1
	// FlagNoQuickCheck tells the receiver that the client compared the
	// contents (-c/--checksum) and found them different: a destination
	// of the same size and modification time is not up to date but
	// differs (Exists without FlagForce). A receiver that predates the
	// flag ignores it and answers up to date. 0x4 is v1's Striped,
	// reserved.
	FlagNoQuickCheck TransferFlags = 1 << 3
)

// AcceptFlags modify an Accept. Bits this version does not define are
// carried as is and ignored.
type AcceptFlags uint64

// The AcceptFlags bits.
const (
	// AcceptUpToDate says the receiver already has the identical file: the
	// sender sends nothing and the transfer is complete.
	AcceptUpToDate AcceptFlags = 1 << 0
)

// Put announces a push: the client wants to send a file to Path. The server
// answers with Accept or Reject.
//
//	ID (varint) | Path (string) | Size (varint) | Mode (varint) | MTime (8 bytes) | Flags (varint)
type Put struct {
	// ID is the client-chosen request ID; the range streams carry it too.
	ID uint64
	// Path is the destination on the server; at most MaxPathLen bytes.
	Path string
	// Size is the size of the whole file in bytes.
	Size uint64
	// Mode holds the Unix permission bits of the file.
	Mode uint32
	// MTime is the modification time to set on the result.
	MTime time.Time
	// Flags modify the transfer.
	Flags TransferFlags
}

// Type returns FrameTypePut.
func (*Put) Type() FrameType { return FrameTypePut }

// Accept answers a Put: the server takes the file, and already holds the
// Have ranges of it; the client sends the rest on range streams, then a
// Seal. With AcceptUpToDate the server has the identical file and the
// client sends nothing.
//
//	ID (varint) | Flags (varint) | Count (varint) | Count × (Offset (varint) | Length (varint))
type Accept struct {
	// ID is the ID of the Put.
	ID uint64
	// Flags modify the transfer.
	Flags AcceptFlags
	// Have lists the ranges the receiver already holds of this version of
	// the file (from an interrupted transfer of the same size and mtime);
	// nil if none. At most MaxRanges.
	Have []Range
	// PrefixHash is the file hash (XXH64) of the receiver's bytes of the first Have
	// range when it starts at offset 0, for the sender to check against
	// its file before resuming; nil otherwise. Nil or HashSize bytes.
	PrefixHash []byte
}

// Type returns FrameTypeAccept.
func (*Accept) Type() FrameType { return FrameTypeAccept }

// Get asks for a pull: the client wants the file at Path. The server
// answers with FileInfo, then sends the ranges the client lacks on range
// streams and a Seal; or it answers with Reject. If Have is not empty and
// the file no longer has this Size and MTime, the server answers
// Reject{HashMismatch} and the client starts over.
//
//	ID (varint) | Path (string) | Size (varint) | MTime (8 bytes) | Flags (varint) | Count (varint) | Count × (Offset (varint) | Length (varint))
type Get struct {
	// ID is the client-chosen request ID; the range streams carry it too.
	ID uint64
	// Path is the source on the server; at most MaxPathLen bytes.
	Path string
	// Size is the size of the version of the file that Have belongs to.
	Size uint64
	// MTime is the modification time of the version of the file that Have
	// belongs to.
	MTime time.Time
	// Flags modify the transfer.
	Flags TransferFlags
	// Have lists the ranges the client already holds of the version of
	// the file with Size and MTime; nil if none. At most MaxRanges.
	Have []Range
	// PrefixHash is the file hash (XXH64) of the client's bytes of the first Have
	// range when it starts at offset 0, for the server to check against
	// its file; nil otherwise. Nil or HashSize bytes.
	PrefixHash []byte
}

// Type returns FrameTypeGet.
func (*Get) Type() FrameType { return FrameTypeGet }

// FileInfo answers a Get: the server sends the file described here, as
// the ranges the client lacks, then a Seal.
//
//	ID (varint) | Size (varint) | Mode (varint) | MTime (8 bytes)
type FileInfo struct {
	// ID is the ID of the Get.
	ID uint64
	// Size is the size of the whole file in bytes.
	Size uint64
	// Mode holds the Unix permission bits of the file.
	Mode uint32
	// MTime is the modification time of the file.
	MTime time.Time
}

// Type returns FrameTypeFileInfo.
func (*FileInfo) Type() FrameType { return FrameTypeFileInfo }

// Seal carries the file hash (XXH64, HashSize) of the whole file, sent by
// the sender once it has read the whole file and found its size and
// mtime unchanged; after a delta's Seed, the file hash of the bytes
// outside its offer. The receiver checks the assembled file against it
// before the rename.
//
//	ID (varint) | Hash (hash, exactly HashSize bytes)
type Seal struct {
	// ID is the ID of the Put or Get.
	ID uint64
	// Hash is the file hash; HashSize bytes.
	Hash []byte
}

// Type returns FrameTypeSeal.
func (*Seal) Type() FrameType { return FrameTypeSeal }

// Ack tells the sender that the receiver has written the range [Offset,
// Offset+Length): it need not be sent again, even if the connection that
// carried it dies.
//
//	ID (varint) | Offset (varint) | Length (varint)
type Ack struct {
	// ID is the ID of the Put or Get.
	ID uint64
	// Offset is the file offset of the range.
	Offset uint64
	// Length is the length of the range in bytes.
	Length uint64
}

// Type returns FrameTypeAck.
func (*Ack) Type() FrameType { return FrameTypeAck }

// Done is the receiver's verdict on a transfer, sent after it has verified
// the hash and renamed the result into place (Code NoError), or after it
// has given up. Its fields and layout are Reject's: ID is the Put's or
// Get's, Code is NoError on success.
//
//	ID (varint) | Code (varint) | Msg (string)
type Done Reject

// Type returns FrameTypeDone.
func (*Done) Type() FrameType { return FrameTypeDone }

// Cancel aborts a transfer on every connection of the pool: the range
// streams it has open are reset by their sender or stopped by their
// receiver. Either side may send it.
//
//	ID (varint) | Code (varint)
type Cancel struct {
	// ID is the ID of the Put or Get.
	ID uint64
	// Code says why.
	Code ErrorCode
}

// Type returns FrameTypeCancel.
func (*Cancel) Type() FrameType { return FrameTypeCancel }

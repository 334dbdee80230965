package wire

// Frames and fields of striped pushes to an object store and of servers
// behind one name (PROTOCOL.md, "Part-aligned pushes" and "Joining";
// frame types 0x70-0x7f).

// FrameTypePartAlign is the type of PartAlign.
const FrameTypePartAlign FrameType = 0x70

// MinPartSize is the smallest PartAlign.PartSize a client accepts, in
// bytes: S3's minimum part (5 MiB, AWS "Amazon S3 multipart upload
// limits"). A smaller one would cut a file into millions of ranges.
const MinPartSize = 5 << 20

// MaxJoinAddrLen bounds Welcome.JoinAddr, in bytes: a host name (at most
// 253 bytes, RFC 1035), brackets, a colon and a port.
const MaxJoinAddrLen = 270

// PartAlign, sent by the server on the command channel just before the
// Accept of a Put, says that the receiver assembles the file from parts
// of PartSize bytes (an S3 multipart upload): every range stream of this
// transfer must start at a multiple of PartSize and end at one or at the
// end of the file, and the sender keeps at most Window ranges written
// but not yet acked. A range that breaks the rule fails the transfer
// with RangeMisaligned. An older client skips the frame (unknown type).
//
//	ID (varint) | PartSize (varint) | Window (varint)
type PartAlign struct {
	// ID is the ID of the Put.
	ID uint64
	// PartSize is the part size, in bytes (at least 5 MiB, S3's minimum
	// part; 0 is a protocol violation for the session, not the codec).
	PartSize uint64
	// Window is how many parts the receiver buffers at once: the most
	// ranges the sender may have written and not yet acked.
	Window uint64
}

// Type returns FrameTypePartAlign.
func (*PartAlign) Type() FrameType { return FrameTypePartAlign }

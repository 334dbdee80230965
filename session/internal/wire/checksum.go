package wire

// Checksum asks for the SHA-256 of the regular file at Path, as it is
// now (-c/--checksum: compare by content rather than by size and
// modification time). The server answers with ChecksumResult or a
// Reject (NotFound, NotRegular for anything but a regular file,
// PermissionDenied for a client that may not read); it opens the file as
// it would for a Get, following a link by the same rules. Added in protocol 2 after its first release (0x90, i18-sync's
// range); a server that predates it skips the frame.
//
//	ID (varint) | Path (string)
type Checksum struct {
	// ID is the client-chosen request ID.
	ID uint64
	// Path is the file; at most MaxPathLen bytes.
	Path string
}

// Type returns FrameTypeChecksum.
func (*Checksum) Type() FrameType { return FrameTypeChecksum }

// ChecksumResult answers a Checksum with the file's size and SHA-256.
//
//	ID (varint) | Size (varint) | Hash (hash, exactly ChecksumSize bytes)
type ChecksumResult struct {
	// ID is the ID of the Checksum request.
	ID uint64
	// Size is the number of bytes hashed.
	Size uint64
	// Hash is the SHA-256 of those bytes; ChecksumSize bytes.
	Hash []byte
}

// Type returns FrameTypeChecksumResult.
func (*ChecksumResult) Type() FrameType { return FrameTypeChecksumResult }

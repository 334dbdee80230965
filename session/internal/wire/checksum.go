package wire

import "github.com/quic-go/quic-go/quicvarint"

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

// Append appends the payload of m to b.
func (m *Checksum) Append(b []byte) []byte {
	return appendString(quicvarint.Append(b, m.ID), m.Path)
}

// Len returns the payload length of m.
func (m *Checksum) Len() int { return quicvarint.Len(m.ID) + stringLen(m.Path) }

func parseChecksum(p *parser) Message {
	return &Checksum{ID: p.varint("id"), Path: p.string("path", MaxPathLen)}
}

// ChecksumResult answers a Checksum with the file's size and SHA-256.
//
//	ID (varint) | Size (varint) | Hash (hash, exactly HashSize bytes)
type ChecksumResult struct {
	// ID is the ID of the Checksum request.
	ID uint64
	// Size is the number of bytes hashed.
	Size uint64
	// Hash is the SHA-256 of those bytes; HashSize bytes.
	Hash []byte
}

// Type returns FrameTypeChecksumResult.
func (*ChecksumResult) Type() FrameType { return FrameTypeChecksumResult }

// Append appends the payload of m to b.
func (m *ChecksumResult) Append(b []byte) []byte {
	b = quicvarint.Append(b, m.ID)
	b = quicvarint.Append(b, m.Size)
	return appendString(b, m.Hash)
}

// Len returns the payload length of m.
func (m *ChecksumResult) Len() int {
	return quicvarint.Len(m.ID) + quicvarint.Len(m.Size) + stringLen(m.Hash)
}

func parseChecksumResult(p *parser) Message {
	return &ChecksumResult{ID: p.varint("id"), Size: p.varint("size"), Hash: p.hash("hash")}
}

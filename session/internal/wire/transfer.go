package wire

import (
	"time"

	"github.com/quic-go/quic-go/quicvarint"
)

// PutFlags modify a Put or a Get. Bits this version does not define are
// carried as is and ignored by v1 peers.
type PutFlags uint64

// The PutFlags bits.
const (
	// FlagForce asks the receiver to replace an existing destination: it
	// neither rejects the transfer with Exists nor answers it as up to date.
	FlagForce PutFlags = 1 << 0
	// FlagNoResume starts the transfer at offset 0, ignoring any partial
	// file.
	FlagNoResume PutFlags = 1 << 1
)

// AcceptFlags modify an Accept. Bits this version does not define are
// carried as is and ignored by v1 peers.
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
	// ID is the client-chosen request ID; the data stream carries it too.
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
	Flags PutFlags
}

// Type returns FrameTypePut.
func (*Put) Type() FrameType { return FrameTypePut }

// Append appends the payload of m to b.
func (m *Put) Append(b []byte) []byte {
	b = quicvarint.Append(b, m.ID)
	b = appendString(b, m.Path)
	b = quicvarint.Append(b, m.Size)
	b = quicvarint.Append(b, uint64(m.Mode))
	b = appendMTime(b, m.MTime)
	return quicvarint.Append(b, uint64(m.Flags))
}

// Len returns the payload length of m.
func (m *Put) Len() int {
	return quicvarint.Len(m.ID) + stringLen(m.Path) + quicvarint.Len(m.Size) +
		quicvarint.Len(uint64(m.Mode)) + mtimeLen + quicvarint.Len(uint64(m.Flags))
}

func parsePut(p *parser) Message {
	return &Put{
		ID:    p.varint("id"),
		Path:  p.string("path", MaxPathLen),
		Size:  p.varint("size"),
		Mode:  p.mode("mode"),
		MTime: p.mtime("mtime"),
		Flags: PutFlags(p.varint("flags")),
	}
}

// Accept answers a Put: the server takes the file, starting at Offset.
//
//	ID (varint) | Offset (varint) | Flags (varint) | PrefixHash (hash)
type Accept struct {
	// ID is the ID of the Put.
	ID uint64
	// Offset is where the data stream must start.
	Offset uint64
	// Flags modify the transfer.
	Flags AcceptFlags
	// PrefixHash is the SHA-256 of the first Offset bytes the receiver
	// already has, or nil. It is nil or HashSize bytes long.
	PrefixHash []byte
}

// Type returns FrameTypeAccept.
func (*Accept) Type() FrameType { return FrameTypeAccept }

// Append appends the payload of m to b.
func (m *Accept) Append(b []byte) []byte {
	b = quicvarint.Append(b, m.ID)
	b = quicvarint.Append(b, m.Offset)
	b = quicvarint.Append(b, uint64(m.Flags))
	return appendString(b, m.PrefixHash)
}

// Len returns the payload length of m.
func (m *Accept) Len() int {
	return quicvarint.Len(m.ID) + quicvarint.Len(m.Offset) +
		quicvarint.Len(uint64(m.Flags)) + stringLen(m.PrefixHash)
}

func parseAccept(p *parser) Message {
	return &Accept{
		ID:         p.varint("id"),
		Offset:     p.varint("offset"),
		Flags:      AcceptFlags(p.varint("flags")),
		PrefixHash: p.hash("prefix hash"),
	}
}

// Get asks for a pull: the client wants the file at Path. The server
// answers with FileInfo and a data stream, or with Reject.
//
//	ID (varint) | Path (string) | Offset (varint) | PrefixHash (hash) | Flags (varint)
type Get struct {
	// ID is the client-chosen request ID; the data stream carries it too.
	ID uint64
	// Path is the source on the server; at most MaxPathLen bytes.
	Path string
	// Offset is the length of the partial file the client already has.
	Offset uint64
	// PrefixHash is the SHA-256 of those Offset bytes, or nil. It is nil or
	// HashSize bytes long.
	PrefixHash []byte
	// Flags modify the transfer.
	Flags PutFlags
}

// Type returns FrameTypeGet.
func (*Get) Type() FrameType { return FrameTypeGet }

// Append appends the payload of m to b.
func (m *Get) Append(b []byte) []byte {
	b = quicvarint.Append(b, m.ID)
	b = appendString(b, m.Path)
	b = quicvarint.Append(b, m.Offset)
	b = appendString(b, m.PrefixHash)
	return quicvarint.Append(b, uint64(m.Flags))
}

// Len returns the payload length of m.
func (m *Get) Len() int {
	return quicvarint.Len(m.ID) + stringLen(m.Path) + quicvarint.Len(m.Offset) +
		stringLen(m.PrefixHash) + quicvarint.Len(uint64(m.Flags))
}

func parseGet(p *parser) Message {
	return &Get{
		ID:         p.varint("id"),
		Path:       p.string("path", MaxPathLen),
		Offset:     p.varint("offset"),
		PrefixHash: p.hash("prefix hash"),
		Flags:      PutFlags(p.varint("flags")),
	}
}

// FileInfo answers a Get: the server sends the file described here on a
// data stream starting at Offset.
//
//	ID (varint) | Size (varint) | Mode (varint) | MTime (8 bytes) | Offset (varint)
type FileInfo struct {
	// ID is the ID of the Get.
	ID uint64
	// Size is the size of the whole file in bytes.
	Size uint64
	// Mode holds the Unix permission bits of the file.
	Mode uint32
	// MTime is the modification time of the file.
	MTime time.Time
	// Offset is where the server's data stream starts.
	Offset uint64
}

// Type returns FrameTypeFileInfo.
func (*FileInfo) Type() FrameType { return FrameTypeFileInfo }

// Append appends the payload of m to b.
func (m *FileInfo) Append(b []byte) []byte {
	b = quicvarint.Append(b, m.ID)
	b = quicvarint.Append(b, m.Size)
	b = quicvarint.Append(b, uint64(m.Mode))
	b = appendMTime(b, m.MTime)
	return quicvarint.Append(b, m.Offset)
}

// Len returns the payload length of m.
func (m *FileInfo) Len() int {
	return quicvarint.Len(m.ID) + quicvarint.Len(m.Size) +
		quicvarint.Len(uint64(m.Mode)) + mtimeLen + quicvarint.Len(m.Offset)
}

func parseFileInfo(p *parser) Message {
	return &FileInfo{
		ID:     p.varint("id"),
		Size:   p.varint("size"),
		Mode:   p.mode("mode"),
		MTime:  p.mtime("mtime"),
		Offset: p.varint("offset"),
	}
}

// Done is the receiver's verdict on a transfer, sent after it has verified
// the hash and renamed the result into place (Code NoError), or after it
// has given up.
//
//	ID (varint) | Code (varint) | Msg (string)
type Done struct {
	// ID is the ID of the Put or Get.
	ID uint64
	// Code is NoError on success.
	Code ErrorCode
	// Msg is a human-readable detail, possibly empty; at most
	// MaxMessageLen bytes.
	Msg string
}

// Type returns FrameTypeDone.
func (*Done) Type() FrameType { return FrameTypeDone }

// Append appends the payload of m to b.
func (m *Done) Append(b []byte) []byte {
	b = quicvarint.Append(b, m.ID)
	b = quicvarint.Append(b, uint64(m.Code))
	return appendString(b, m.Msg)
}

// Len returns the payload length of m.
func (m *Done) Len() int {
	return quicvarint.Len(m.ID) + quicvarint.Len(uint64(m.Code)) + stringLen(m.Msg)
}

func parseDone(p *parser) Message {
	return &Done{
		ID:   p.varint("id"),
		Code: ErrorCode(p.varint("code")),
		Msg:  p.string("msg", MaxMessageLen),
	}
}

// Cancel aborts a transfer whose data stream is not open. Either side may
// send it; an open stream is reset instead.
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

// Append appends the payload of m to b.
func (m *Cancel) Append(b []byte) []byte {
	b = quicvarint.Append(b, m.ID)
	return quicvarint.Append(b, uint64(m.Code))
}

// Len returns the payload length of m.
func (m *Cancel) Len() int { return quicvarint.Len(m.ID) + quicvarint.Len(uint64(m.Code)) }

func parseCancel(p *parser) Message {
	return &Cancel{ID: p.varint("id"), Code: ErrorCode(p.varint("code"))}
}

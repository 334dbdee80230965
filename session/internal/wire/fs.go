package wire

import "github.com/quic-go/quic-go/quicvarint"

// RemoveFlags modify a Remove. Bits this version does not define are
// carried as is and ignored.
type RemoveFlags uint64

// The RemoveFlags bits.
const (
	// RemoveDir asks for an empty directory to be removed (rmdir). Without
	// it only something that is not a directory is removed (rm).
	RemoveDir RemoveFlags = 1 << 0
)

// Remove asks the server to remove one name: a file, symbolic link or
// other non-directory, or with RemoveDir an empty directory. The server
// answers with OK or a Reject.
//
//	ID (varint) | Path (string) | Flags (varint)
type Remove struct {
	// ID is the client-chosen request ID.
	ID uint64
	// Path is the name to remove; at most MaxPathLen bytes.
	Path string
	// Flags says what kind of name may be removed.
	Flags RemoveFlags
}

// Type returns FrameTypeRemove.
func (*Remove) Type() FrameType { return FrameTypeRemove }

// Append appends the payload of m to b.
func (m *Remove) Append(b []byte) []byte {
	b = quicvarint.Append(b, m.ID)
	b = appendString(b, m.Path)
	return quicvarint.Append(b, uint64(m.Flags))
}

// Len returns the payload length of m.
func (m *Remove) Len() int {
	return quicvarint.Len(m.ID) + stringLen(m.Path) + quicvarint.Len(uint64(m.Flags))
}

func parseRemove(p *parser) Message {
	return &Remove{ID: p.varint("id"), Path: p.string("path", MaxPathLen), Flags: RemoveFlags(p.varint("flags"))}
}

// Rename asks the server to give the name From the new name To, which must
// not exist. The server answers with OK or a Reject.
//
//	ID (varint) | From (string) | To (string)
type Rename struct {
	// ID is the client-chosen request ID.
	ID uint64
	// From is the existing name; at most MaxPathLen bytes.
	From string
	// To is the new name; at most MaxPathLen bytes.
	To string
}

// Type returns FrameTypeRename.
func (*Rename) Type() FrameType { return FrameTypeRename }

// Append appends the payload of m to b.
func (m *Rename) Append(b []byte) []byte {
	b = quicvarint.Append(b, m.ID)
	b = appendString(b, m.From)
	return appendString(b, m.To)
}

// Len returns the payload length of m.
func (m *Rename) Len() int { return quicvarint.Len(m.ID) + stringLen(m.From) + stringLen(m.To) }

func parseRename(p *parser) Message {
	return &Rename{ID: p.varint("id"), From: p.string("from", MaxPathLen), To: p.string("to", MaxPathLen)}
}

// Df asks for the size and free space of the file system holding Path.
// The server answers with a DfResult or a Reject.
//
//	ID (varint) | Path (string)
type Df struct {
	// ID is the client-chosen request ID.
	ID uint64
	// Path is a name on the file system to describe; at most MaxPathLen
	// bytes.
	Path string
}

// Type returns FrameTypeDf.
func (*Df) Type() FrameType { return FrameTypeDf }

// Append appends the payload of m to b.
func (m *Df) Append(b []byte) []byte {
	b = quicvarint.Append(b, m.ID)
	return appendString(b, m.Path)
}

// Len returns the payload length of m.
func (m *Df) Len() int { return quicvarint.Len(m.ID) + stringLen(m.Path) }

func parseDf(p *parser) Message {
	return &Df{ID: p.varint("id"), Path: p.string("path", MaxPathLen)}
}

// DfResult answers a Df, as statvfs(3) does.
//
//	ID (varint) | Total (varint) | Free (varint) | Avail (varint) | Files (varint) | FilesFree (varint)
type DfResult struct {
	// ID is the ID of the Df request.
	ID uint64
	// Total is the size of the file system in bytes.
	Total uint64
	// Free is the number of free bytes.
	Free uint64
	// Avail is the number of bytes the server may still write (Free less
	// any reserve for the superuser).
	Avail uint64
	// Files is the number of inodes, 0 if the file system does not say.
	Files uint64
	// FilesFree is the number of free inodes, 0 if the file system does
	// not say.
	FilesFree uint64
}

// Type returns FrameTypeDfResult.
func (*DfResult) Type() FrameType { return FrameTypeDfResult }

// Append appends the payload of m to b.
func (m *DfResult) Append(b []byte) []byte {
	b = quicvarint.Append(b, m.ID)
	b = quicvarint.Append(b, m.Total)
	b = quicvarint.Append(b, m.Free)
	b = quicvarint.Append(b, m.Avail)
	b = quicvarint.Append(b, m.Files)
	return quicvarint.Append(b, m.FilesFree)
}

// Len returns the payload length of m.
func (m *DfResult) Len() int {
	return quicvarint.Len(m.ID) + quicvarint.Len(m.Total) + quicvarint.Len(m.Free) +
		quicvarint.Len(m.Avail) + quicvarint.Len(m.Files) + quicvarint.Len(m.FilesFree)
}

func parseDfResult(p *parser) Message {
	return &DfResult{
		ID: p.varint("id"), Total: p.varint("total"), Free: p.varint("free"),
		Avail: p.varint("avail"), Files: p.varint("files"), FilesFree: p.varint("files free"),
	}
}

package wire

import "github.com/quic-go/quic-go/quicvarint"

// Symlink asks the server to create a symbolic link at Path pointing to
// Target, the link's text as is, creating missing parent directories
// (push -l). The server answers with OK or a Reject; FlagForce replaces
// an existing link or file that differs.
//
//	ID (varint) | Path (string) | Target (string) | Flags (varint)
type Symlink struct {
	// ID is the client-chosen request ID.
	ID uint64
	// Path is the link to create; at most MaxPathLen bytes.
	Path string
	// Target is what the link points to, relative to its directory; at
	// most MaxPathLen bytes.
	Target string
	// Flags are TransferFlags; only FlagForce has a meaning here.
	Flags TransferFlags
}

// Type returns FrameTypeSymlink.
func (*Symlink) Type() FrameType { return FrameTypeSymlink }

// Append appends the payload of m to b.
func (m *Symlink) Append(b []byte) []byte {
	b = quicvarint.Append(b, m.ID)
	b = appendString(b, m.Path)
	b = appendString(b, m.Target)
	return quicvarint.Append(b, uint64(m.Flags))
}

// Len returns the payload length of m.
func (m *Symlink) Len() int {
	return quicvarint.Len(m.ID) + stringLen(m.Path) + stringLen(m.Target) + quicvarint.Len(uint64(m.Flags))
}

func parseSymlink(p *parser) Message {
	return &Symlink{
		ID: p.varint("id"), Path: p.string("path", MaxPathLen),
		Target: p.string("target", MaxPathLen), Flags: TransferFlags(p.varint("flags")),
	}
}

// Readlink asks for the target of the symbolic link at Path (pull -l).
// The server answers with LinkTarget or a Reject.
//
//	ID (varint) | Path (string)
type Readlink struct {
	// ID is the client-chosen request ID.
	ID uint64
	// Path is the link; at most MaxPathLen bytes.
	Path string
}

// Type returns FrameTypeReadlink.
func (*Readlink) Type() FrameType { return FrameTypeReadlink }

// Append appends the payload of m to b.
func (m *Readlink) Append(b []byte) []byte {
	b = quicvarint.Append(b, m.ID)
	return appendString(b, m.Path)
}

// Len returns the payload length of m.
func (m *Readlink) Len() int { return quicvarint.Len(m.ID) + stringLen(m.Path) }

func parseReadlink(p *parser) Message {
	return &Readlink{ID: p.varint("id"), Path: p.string("path", MaxPathLen)}
}

// LinkTarget answers a Readlink with the link's target.
//
//	ID (varint) | Target (string)
type LinkTarget struct {
	// ID is the ID of the Readlink request.
	ID uint64
	// Target is the link's text; at most MaxPathLen bytes.
	Target string
}

// Type returns FrameTypeLinkTarget.
func (*LinkTarget) Type() FrameType { return FrameTypeLinkTarget }

// Append appends the payload of m to b.
func (m *LinkTarget) Append(b []byte) []byte {
	b = quicvarint.Append(b, m.ID)
	return appendString(b, m.Target)
}

// Len returns the payload length of m.
func (m *LinkTarget) Len() int { return quicvarint.Len(m.ID) + stringLen(m.Target) }

func parseLinkTarget(p *parser) Message {
	return &LinkTarget{ID: p.varint("id"), Target: p.string("target", MaxPathLen)}
}

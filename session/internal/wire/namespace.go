package wire

import "github.com/quic-go/quic-go/quicvarint"

// List asks for the entries of a directory. The server answers with one or
// more ListResult frames, the last one with Last set, or with a Reject.
//
//	ID (varint) | Path (string)
type List struct {
	// ID is the client-chosen request ID.
	ID uint64
	// Path is the directory to list; at most MaxPathLen bytes.
	Path string
}

// Type returns FrameTypeList.
func (*List) Type() FrameType { return FrameTypeList }

// Append appends the payload of m to b.
func (m *List) Append(b []byte) []byte {
	b = quicvarint.Append(b, m.ID)
	return appendString(b, m.Path)
}

// Len returns the payload length of m.
func (m *List) Len() int { return quicvarint.Len(m.ID) + stringLen(m.Path) }

func parseList(p *parser) Message {
	return &List{ID: p.varint("id"), Path: p.string("path", MaxPathLen)}
}

// ListResult carries a batch of directory entries.
//
//	ID (varint) | Last (bool) | Count (varint) | Count × Entry
type ListResult struct {
	// ID is the ID of the List request.
	ID uint64
	// Last is set on the final batch.
	Last bool
	// Entries is the batch, nil if empty. The sender keeps the frame within
	// MaxFrameSize (see Entry.Len).
	Entries []Entry
}

// Type returns FrameTypeListResult.
func (*ListResult) Type() FrameType { return FrameTypeListResult }

// Append appends the payload of m to b.
func (m *ListResult) Append(b []byte) []byte {
	b = quicvarint.Append(b, m.ID)
	b = appendBool(b, m.Last)
	b = quicvarint.Append(b, uint64(len(m.Entries)))
	for i := range m.Entries {
		b = m.Entries[i].append(b)
	}
	return b
}

// Len returns the payload length of m.
func (m *ListResult) Len() int {
	n := quicvarint.Len(m.ID) + boolLen + quicvarint.Len(uint64(len(m.Entries)))
	for i := range m.Entries {
		n += m.Entries[i].Len()
	}
	return n
}

func parseListResult(p *parser) Message {
	m := &ListResult{ID: p.varint("id"), Last: p.bool("last")}
	n := p.count("entry count", minEntryLen)
	if n > 0 {
		m.Entries = make([]Entry, 0, n)
	}
	for range n {
		m.Entries = append(m.Entries, p.entry())
	}
	return m
}

// Stat asks for the description of one path. The server answers with a
// StatResult or a Reject.
//
//	ID (varint) | Path (string)
type Stat struct {
	// ID is the client-chosen request ID.
	ID uint64
	// Path is the path to describe; at most MaxPathLen bytes.
	Path string
}

// Type returns FrameTypeStat.
func (*Stat) Type() FrameType { return FrameTypeStat }

// Append appends the payload of m to b.
func (m *Stat) Append(b []byte) []byte {
	b = quicvarint.Append(b, m.ID)
	return appendString(b, m.Path)
}

// Len returns the payload length of m.
func (m *Stat) Len() int { return quicvarint.Len(m.ID) + stringLen(m.Path) }

func parseStat(p *parser) Message {
	return &Stat{ID: p.varint("id"), Path: p.string("path", MaxPathLen)}
}

// StatResult answers a Stat.
//
//	ID (varint) | Entry
type StatResult struct {
	// ID is the ID of the Stat request.
	ID uint64
	// Entry describes the path; Entry.Name is the path as requested.
	Entry Entry
}

// Type returns FrameTypeStatResult.
func (*StatResult) Type() FrameType { return FrameTypeStatResult }

// Append appends the payload of m to b.
func (m *StatResult) Append(b []byte) []byte {
	b = quicvarint.Append(b, m.ID)
	return m.Entry.append(b)
}

// Len returns the payload length of m.
func (m *StatResult) Len() int { return quicvarint.Len(m.ID) + m.Entry.Len() }

func parseStatResult(p *parser) Message {
	return &StatResult{ID: p.varint("id"), Entry: p.entry()}
}

// Mkdir asks the server to create a directory and any missing parents. The
// server answers with OK or a Reject.
//
//	ID (varint) | Path (string) | Mode (varint)
type Mkdir struct {
	// ID is the client-chosen request ID.
	ID uint64
	// Path is the directory to create; at most MaxPathLen bytes.
	Path string
	// Mode holds the Unix permission bits of the new directory.
	Mode uint32
}

// Type returns FrameTypeMkdir.
func (*Mkdir) Type() FrameType { return FrameTypeMkdir }

// Append appends the payload of m to b.
func (m *Mkdir) Append(b []byte) []byte {
	b = quicvarint.Append(b, m.ID)
	b = appendString(b, m.Path)
	return quicvarint.Append(b, uint64(m.Mode))
}

// Len returns the payload length of m.
func (m *Mkdir) Len() int {
	return quicvarint.Len(m.ID) + stringLen(m.Path) + quicvarint.Len(uint64(m.Mode))
}

func parseMkdir(p *parser) Message {
	return &Mkdir{ID: p.varint("id"), Path: p.string("path", MaxPathLen), Mode: p.mode("mode")}
}

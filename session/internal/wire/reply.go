package wire

import "github.com/quic-go/quic-go/quicvarint"

// OK answers a request that succeeded and has nothing else to report, such
// as Mkdir.
//
//	ID (varint)
type OK struct {
	// ID is the ID of the request.
	ID uint64
}

// Type returns FrameTypeOK.
func (*OK) Type() FrameType { return FrameTypeOK }

// Append appends the payload of m to b.
func (m *OK) Append(b []byte) []byte { return quicvarint.Append(b, m.ID) }

// Len returns the payload length of m.
func (m *OK) Len() int { return quicvarint.Len(m.ID) }

func parseOK(p *parser) Message { return &OK{ID: p.varint("id")} }

// Reject answers any request that fails. Either side may send it; the
// server also sends it, with ID 0, to refuse a Hello.
//
//	ID (varint) | Code (varint) | Msg (string)
type Reject struct {
	// ID is the ID of the refused request.
	ID uint64
	// Code says why.
	Code ErrorCode
	// Msg is a human-readable detail, possibly empty; at most
	// MaxMessageLen bytes.
	Msg string
}

// Type returns FrameTypeReject.
func (*Reject) Type() FrameType { return FrameTypeReject }

// Append appends the payload of m to b.
func (m *Reject) Append(b []byte) []byte {
	b = quicvarint.Append(b, m.ID)
	b = quicvarint.Append(b, uint64(m.Code))
	return appendString(b, m.Msg)
}

// Len returns the payload length of m.
func (m *Reject) Len() int {
	return quicvarint.Len(m.ID) + quicvarint.Len(uint64(m.Code)) + stringLen(m.Msg)
}

func parseReject(p *parser) Message {
	return &Reject{
		ID:   p.varint("id"),
		Code: ErrorCode(p.varint("code")),
		Msg:  p.string("msg", MaxMessageLen),
	}
}

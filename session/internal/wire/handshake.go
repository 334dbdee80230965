package wire

import "github.com/quic-go/quic-go/quicvarint"

// Hello is the first frame on the command channel, sent by the client.
//
//	Magic (4 bytes) | Version (varint) | Software (string)
type Hello struct {
	// Magic must be "QXFR" ([Magic]); ParseMessage fails with ErrBadMagic
	// otherwise. Append writes it as is.
	Magic [4]byte
	// Version is the protocol version the client speaks. The codec accepts
	// any value; the session compares it with [Version].
	Version uint64
	// Software names the client implementation for logs, such as
	// "qxfer/1.2.0"; at most MaxSoftwareLen bytes.
	Software string
}

// Type returns FrameTypeHello.
func (*Hello) Type() FrameType { return FrameTypeHello }

// Append appends the payload of m to b.
func (m *Hello) Append(b []byte) []byte {
	b = append(b, m.Magic[:]...)
	b = quicvarint.Append(b, m.Version)
	return appendString(b, m.Software)
}

// Len returns the payload length of m.
func (m *Hello) Len() int {
	return len(m.Magic) + quicvarint.Len(m.Version) + stringLen(m.Software)
}

func parseHello(p *parser) Message {
	return &Hello{
		Magic:    p.magic(),
		Version:  p.varint("version"),
		Software: p.string("software", MaxSoftwareLen),
	}
}

// Welcome is the server's answer to an acceptable Hello.
//
//	Version (varint) | MaxTransfers (varint) | Token (bytes) | Software (string) [| JoinAddr (string)]
type Welcome struct {
	// Version is the protocol version the server speaks for this session.
	Version uint64
	// MaxTransfers is the server's limit on concurrent transfers in this
	// session.
	MaxTransfers uint64
	// Token identifies the session for later pool connections; at most
	// MaxTokenLen bytes, nil if empty.
	Token []byte
	// Software names the server implementation for logs; at most
	// MaxSoftwareLen bytes.
	Software string
	// JoinAddr, optional, is the address (HOST:PORT) the client dials
	// for the pool connections of this session: the server's own
	// address when several servers share one name (serve --advertise).
	// Empty: the address the client dialled. Encoded only when set, and
	// then an older client fails the Welcome with ErrTrailingBytes; at
	// most MaxJoinAddrLen bytes.
	JoinAddr string
}

// Type returns FrameTypeWelcome.
func (*Welcome) Type() FrameType { return FrameTypeWelcome }

// Append appends the payload of m to b.
func (m *Welcome) Append(b []byte) []byte {
	b = quicvarint.Append(b, m.Version)
	b = quicvarint.Append(b, m.MaxTransfers)
	b = appendString(b, m.Token)
	b = appendString(b, m.Software)
	if m.JoinAddr != "" {
		b = appendString(b, m.JoinAddr)
	}
	return b
}

// Len returns the payload length of m.
func (m *Welcome) Len() int {
	n := quicvarint.Len(m.Version) + quicvarint.Len(m.MaxTransfers) +
		stringLen(m.Token) + stringLen(m.Software)
	if m.JoinAddr != "" {
		n += len(m.JoinAddr) + quicvarint.Len(uint64(len(m.JoinAddr)))
	}
	return n
}

func parseWelcome(p *parser) Message {
	m := &Welcome{
		Version:      p.varint("version"),
		MaxTransfers: p.varint("max transfers"),
		Token:        p.bytes("token", MaxTokenLen),
		Software:     p.string("software", MaxSoftwareLen),
	}
	if p.more() {
		// Present means set: an empty one would be a second encoding
		// of the same Welcome.
		if m.JoinAddr = p.string("join address", MaxJoinAddrLen); m.JoinAddr == "" {
			p.fail("join address", ErrTrailingBytes)
		}
	}
	return m
}

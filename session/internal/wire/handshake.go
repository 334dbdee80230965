package wire

// Hello is the first frame on the command channel, sent by the client.
//
//	Magic (4 bytes) | Version (varint) | Software (string)
type Hello struct {
	// Magic must be "QXFR" ([Magic]); ParseMessage fails with ErrBadMagic
	// otherwise. AppendFrame writes it as is.
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

package wire

// Frames of connection pools (see PROTOCOL.md, "Connection pools"). A
// session may add data-only connections that join it with the Welcome's
// token; the range streams of any transfer travel on any connection of
// the pool.

// Join is the first frame on the command stream of a pool connection: the
// client adds this connection to the session whose Welcome carried Token.
// The server answers Welcome or Reject{ID: 0}.
//
//	Magic (4 bytes) | Version (varint) | Token (bytes)
type Join struct {
	// Magic must be "QXFR" ([Magic]); ParseMessage fails with ErrBadMagic
	// otherwise. AppendFrame writes it as is.
	Magic [4]byte
	// Version is the protocol version the client speaks. The codec accepts
	// any value; the session compares it with [Version].
	Version uint64
	// Token is the Welcome.Token of the session to join; at most
	// MaxTokenLen bytes.
	Token []byte
}

// Type returns FrameTypeJoin.
func (*Join) Type() FrameType { return FrameTypeJoin }

// Drop, on the primary command channel, tells the server that the pool
// connection whose Welcome carried Token is dead to the client: the
// server closes it at once, so the ranges it was sending there go to the
// other connections now rather than at its idle timeout.
//
//	Token (bytes)
type Drop struct {
	// Token is the Welcome.Token of the pool connection; at most
	// MaxTokenLen bytes.
	Token []byte
}

// Type returns FrameTypeDrop.
func (*Drop) Type() FrameType { return FrameTypeDrop }

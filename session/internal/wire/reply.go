package wire

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

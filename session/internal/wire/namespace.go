package wire

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

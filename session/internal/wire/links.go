package wire

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

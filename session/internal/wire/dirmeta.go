package wire

import "time"

// DirMeta asks the server to set the permission bits and modification
// time of an existing directory, as rsync -a keeps them: a client sends
// it for every directory of a pushed tree once the files below it are
// written (writing them changes the directory's mtime), deepest first.
// The server answers with OK or a Reject (NotDirectory for anything but
// a directory).
//
//	ID (varint) | Path (string) | Mode (varint) | MTime (mtime)
type DirMeta struct {
	// ID is the client-chosen request ID.
	ID uint64
	// Path is the directory; at most MaxPathLen bytes.
	Path string
	// Mode holds the Unix permission bits to set.
	Mode uint32
	// MTime is the modification time to set.
	MTime time.Time
}

// Type returns FrameTypeDirMeta.
func (*DirMeta) Type() FrameType { return FrameTypeDirMeta }

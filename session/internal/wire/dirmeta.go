package wire

import (
	"time"

	"github.com/quic-go/quic-go/quicvarint"
)

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

// Append appends the payload of m to b.
func (m *DirMeta) Append(b []byte) []byte {
	b = quicvarint.Append(b, m.ID)
	b = appendString(b, m.Path)
	b = quicvarint.Append(b, uint64(m.Mode))
	return appendMTime(b, m.MTime)
}

// Len returns the payload length of m.
func (m *DirMeta) Len() int {
	return quicvarint.Len(m.ID) + stringLen(m.Path) + quicvarint.Len(uint64(m.Mode)) + mtimeSize(m.MTime)
}

func parseDirMeta(p *parser) Message {
	return &DirMeta{ID: p.varint("id"), Path: p.string("path", MaxPathLen), Mode: p.mode("mode"), MTime: p.mtime("mtime")}
}

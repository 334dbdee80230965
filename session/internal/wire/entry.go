package wire

import (
	"fmt"
	"time"
)

// EntryKind is the kind of a directory entry. It is encoded as one byte.
type EntryKind uint8

// The entry kinds. Zero is not a kind: decoding 0 or a value above
// KindOther fails with ErrBadKind.
const (
	KindFile    EntryKind = 1 // regular file
	KindDir     EntryKind = 2 // directory
	KindSymlink EntryKind = 3 // symbolic link, not followed
	KindOther   EntryKind = 4 // device, socket, named pipe...
)

func (k EntryKind) valid() bool { return k >= KindFile && k <= KindOther }

var kindNames = [...]string{KindFile: "file", KindDir: "dir", KindSymlink: "symlink", KindOther: "other"}

// String returns "file", "dir", "symlink", "other" or "kind_N".
func (k EntryKind) String() string {
	if k.valid() {
		return kindNames[k]
	}
	return fmt.Sprintf("kind_%d", uint8(k))
}

// minEntryLen is the length of the shortest encoded Entry: empty name,
// one-byte size and mode.
const minEntryLen = 1 + kindLen + 1 + 1 + mtimeLen

// Entry describes one file system object in ListResult and StatResult.
//
//	Name (string) | Kind (1 byte) | Size (varint) | Mode (varint) | MTime (8 bytes)
type Entry struct {
	// Name is the base name in a ListResult and the requested path in a
	// StatResult; at most MaxPathLen bytes.
	Name string
	// Kind is the kind of object.
	Kind EntryKind
	// Size is the size in bytes (0 for directories).
	Size uint64
	// Mode holds the Unix permission bits (at most 0o7777 in practice),
	// and ModeLinked for a followed symbolic link; the kind of object is
	// in Kind.
	Mode uint32
	// MTime is the modification time, with nanosecond precision.
	MTime time.Time
}

// ModeLinked is set in Entry.Mode, above the permission bits, when the
// entry is a symbolic link that the server followed: Kind, Size, Mode and
// MTime then describe what it points to (a file or a directory inside
// the served tree). Peers that do not know the bit keep only the
// permission bits, and see the target.
const ModeLinked uint32 = 1 << 16

// Len returns the encoded length of e, so that a sender can fill a
// ListResult up to MaxFrameSize.
func (e *Entry) Len() int {
	c := codec{op: opSize}
	c.entry(e)
	return c.n
}

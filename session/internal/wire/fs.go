package wire

// RemoveFlags modify a Remove. Bits this version does not define are
// carried as is and ignored.
type RemoveFlags uint64

// The RemoveFlags bits.
const (
	// RemoveDir asks for an empty directory to be removed (rmdir). Without
	// it only something that is not a directory is removed (rm).
	RemoveDir RemoveFlags = 1 << 0
)

// Remove asks the server to remove one name: a file, symbolic link or
// other non-directory, or with RemoveDir an empty directory. The server
// answers with OK or a Reject.
//
//	ID (varint) | Path (string) | Flags (varint)
type Remove struct {
	// ID is the client-chosen request ID.
	ID uint64
	// Path is the name to remove; at most MaxPathLen bytes.
	Path string
	// Flags says what kind of name may be removed.
	Flags RemoveFlags
}

// Type returns FrameTypeRemove.
func (*Remove) Type() FrameType { return FrameTypeRemove }

// Rename asks the server to give the name From the new name To, which must
// not exist. The server answers with OK or a Reject.
//
//	ID (varint) | From (string) | To (string)
type Rename struct {
	// ID is the client-chosen request ID.
	ID uint64
	// From is the existing name; at most MaxPathLen bytes.
	From string
	// To is the new name; at most MaxPathLen bytes.
	To string
}

// Type returns FrameTypeRename.
func (*Rename) Type() FrameType { return FrameTypeRename }

// Df asks for the size and free space of the file system holding Path.
// The server answers with a DfResult or a Reject.
//
//	ID (varint) | Path (string)
type Df struct {
	// ID is the client-chosen request ID.
	ID uint64
	// Path is a name on the file system to describe; at most MaxPathLen
	// bytes.
	Path string
}

// Type returns FrameTypeDf.
func (*Df) Type() FrameType { return FrameTypeDf }

// DfResult answers a Df, as statvfs(3) does.
//
//	ID (varint) | Total (varint) | Free (varint) | Avail (varint) | Files (varint) | FilesFree (varint)
type DfResult struct {
	// ID is the ID of the Df request.
	ID uint64
	// Total is the size of the file system in bytes.
	Total uint64
	// Free is the number of free bytes.
	Free uint64
	// Avail is the number of bytes the server may still write (Free less
	// any reserve for the superuser).
	Avail uint64
	// Files is the number of inodes, 0 if the file system does not say.
	Files uint64
	// FilesFree is the number of free inodes, 0 if the file system does
	// not say.
	FilesFree uint64
}

// Type returns FrameTypeDfResult.
func (*DfResult) Type() FrameType { return FrameTypeDfResult }

package session

import "io/fs"

// KindOf returns the kind of entry a file of mode m is, as a listing
// shows it: a regular file, a directory, a symbolic link (not followed)
// or another kind (a device, a socket, a named pipe...). The server lists
// its files with it; a client describes its local files with it.
func KindOf(m fs.FileMode) EntryKind {
	switch {
	case m.IsRegular():
		return KindFile
	case m.IsDir():
		return KindDir
	case m&fs.ModeSymlink != 0:
		return KindSymlink
	}
	return KindOther
}

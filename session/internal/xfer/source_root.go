package xfer

import "os"

// OpenSourceIn is OpenSource of p, a clean path under root, with dirs
// (optional) holding root's own directory open: on Linux p is then found
// by openat2(RESOLVE_BENEATH) from it, an O_PATH descriptor first, whose
// fstat refuses what is not a regular file before anything opens it, then
// the file itself, whatever p's depth. os.Root resolves p a component at
// a time (an openat and a close each), for its stat and again for its
// open: 2 x depth x 2 system calls per file a server sends, most of its
// per-file cost in a pull of the Linux kernel's tree (issue 17). The
// kernel refuses what os.Root refuses (a component or symlink leading out
// of the root, any absolute symlink: EXDEV), and the file is checked on
// the open descriptor as OpenSource checks it. Any failure of that path,
// and every other system, takes OpenSource, whose error is the one
// returned.
func OpenSourceIn(root *os.Root, dirs *KnownDirs, p string) (Source, FileMeta, error) {
	if dirs != nil {
		if top := dirs.topOf(root); top != nil {
			if f, err := openSourceBeneath(top, p); err == nil {
				return checkSource(f, p)
			}
		}
	}
	return OpenSource(root, p, p)
}

// DirWithoutLinks reports whether p, a clean path under root, is a
// directory reached with no symbolic link on its path, found from root's
// own directory held by dirs by one openat2(RESOLVE_BENEATH |
// RESOLVE_NO_SYMLINKS) on Linux. Such a directory cannot be one of its
// own ancestors (a directory has one parent), so a lister need not check
// p against each ancestor: with os.Root, a stat of each, a component at a
// time, depth^2 system calls per directory, most of a no-op push's
// listing cost on the Linux kernel's tree (issue 17). False when it
// cannot tell: a link on the path, not a directory, no dirs, another
// system, any error.
func DirWithoutLinks(root *os.Root, dirs *KnownDirs, p string) bool {
	if dirs == nil {
		return false
	}
	top := dirs.topOf(root)
	return top != nil && dirWithoutLinks(top, p)
}

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

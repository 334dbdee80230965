package xfer

import (
	"errors"
	"os"
)

// errNoBeneath says the system cannot resolve a path confined to a
// directory in one call (renameBeneath).
var errNoBeneath = errors.New("no confined path resolution on this system")

// renamePart renames the .part of p to p, both under root, resolving p's
// directory afresh from the root, so that a directory swapped for a
// symlink after the receiver opened it is refused here (as os.Root
// refuses it) rather than renamed through. Linux, with dirs: one
// openat2(RESOLVE_BENEATH) of the directory from the root's descriptor,
// the renameat in it and a close, three system calls whatever the depth
// (os.Root.Rename walks both paths a component at a time, an openat and a
// close each: 20 system calls for a file four directories down, a sixth
// of a receiver's CPU on the Linux kernel's tree, issue 17). The kernel
// refuses what os.Root refuses: a ".." or a symlink leading out of the
// root, and every absolute symlink (EXDEV). Any failure of that path,
// and every other system, takes os.Root.Rename, whose error is the one
// returned.
func renamePart(root *os.Root, dirs *KnownDirs, p string) error {
	if dirs != nil {
		if top := dirs.topOf(root); top != nil {
			dir, name := splitDir(p)
			if renameBeneath(top, dir, PartName(name), name) == nil {
				return nil
			}
		}
	}
	return root.Rename(PartName(p), p)
}

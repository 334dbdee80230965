//go:build unix

package session

import (
	"io/fs"
	"syscall"
)

// fileID names a local file by device and inode: what os.SameFile
// compares, in 16 bytes instead of a whole fs.FileInfo (about 220 bytes
// with its name), since a batch keeps one per file until it ends.
type fileID struct {
	dev, ino uint64
	ok       bool
}

// fileIDOf returns fi's identity; the zero fileID if fi is nil or does
// not come from a stat of this system.
func fileIDOf(fi fs.FileInfo) fileID {
	if fi == nil {
		return fileID{}
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino), ok: true} //nolint:unconvert // Dev and Ino differ in width across systems
}

// same reports whether a and b are known and name the same file.
func (a fileID) same(b fileID) bool { return a.ok && b.ok && a.dev == b.dev && a.ino == b.ino }

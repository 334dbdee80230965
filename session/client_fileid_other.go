//go:build !unix

package session

import (
	"io/fs"
	"os"
)

// fileID names a local file for dedupe. Outside Unix the identity
// (Windows' volume and file index) is only read by os.SameFile, so the
// fs.FileInfo is kept.
type fileID struct{ fi fs.FileInfo }

// fileIDOf returns fi's identity; the zero fileID if fi is nil.
func fileIDOf(fi fs.FileInfo) fileID { return fileID{fi} }

// same reports whether a and b are known and name the same file.
func (a fileID) same(b fileID) bool { return a.fi != nil && b.fi != nil && os.SameFile(a.fi, b.fi) }

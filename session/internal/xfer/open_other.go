//go:build !unix

package xfer

// openNonblock is 0 where opens do not block on special files.
const openNonblock = 0

//go:build unix && !linux

package xfer

import "golang.org/x/sys/unix"

// blockSize is the unit of st's block counts: f_bsize (statfs(2) on
// Darwin and the BSDs).
func blockSize(st *unix.Statfs_t) uint64 { return uint64(st.Bsize) }

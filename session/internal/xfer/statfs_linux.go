package xfer

import "golang.org/x/sys/unix"

// blockSize is the unit of st's block counts: f_frsize, or f_bsize on
// kernels that leave it 0 (statvfs(3)).
func blockSize(st *unix.Statfs_t) uint64 {
	if st.Frsize != 0 {
		return uint64(st.Frsize)
	}
	return uint64(st.Bsize)
}

package xfer

import (
	"errors"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// copyRange copies n bytes of src at srcOff to dst at dstOff. On Linux
// it asks the kernel (copy_file_range(2)): the bytes never pass through
// user space, and a file system that shares blocks (Btrfs, XFS with
// reflink, NFS 4.2 server-side copy) shares them instead of copying.
// Where the kernel refuses (another file system, an old kernel), it
// copies through buf.
func copyRange(dst, src *os.File, dstOff, srcOff, n int64, buf []byte) error {
	for n > 0 {
		soff, doff := srcOff, dstOff
		k, err := unix.CopyFileRange(int(src.Fd()), &soff, int(dst.Fd()), &doff, int(min(n, 1<<30)), 0)
		switch {
		case err == nil && k == 0:
			return io.ErrUnexpectedEOF // src is shorter than it was
		case err == nil:
			srcOff, dstOff, n = srcOff+int64(k), dstOff+int64(k), n-int64(k)
		case errors.Is(err, unix.EINTR):
		case errors.Is(err, unix.EXDEV), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EOPNOTSUPP),
			errors.Is(err, unix.EINVAL), errors.Is(err, unix.EPERM), errors.Is(err, unix.ETXTBSY):
			return copyRangeRW(dst, src, dstOff, srcOff, n, buf)
		default:
			return &os.PathError{Op: "copy_file_range", Path: dst.Name(), Err: err}
		}
	}
	return nil
}

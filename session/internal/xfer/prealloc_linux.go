package xfer

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// preallocate gives f size bytes of disk blocks (so a full disk fails now,
// not in the middle of a transfer) and makes it size bytes long. File
// systems without fallocate get a sparse file.
func preallocate(f *os.File, size int64) error {
	if size == 0 {
		return f.Truncate(0)
	}
	err := unix.Fallocate(int(f.Fd()), 0, 0, size)
	if err == nil {
		return f.Truncate(size) // fallocate never shrinks a longer file
	}
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) {
		return f.Truncate(size)
	}
	return &os.PathError{Op: "fallocate", Path: f.Name(), Err: err}
}

package xfer

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// preallocate gives f size bytes of disk blocks (so a full disk fails now,
// not in the middle of a transfer) and makes it size bytes long. File
// systems without fallocate get a sparse file. empty says f holds no
// byte: fallocate then sets its length itself (mode 0 extends the file,
// fallocate(2)), and no ftruncate follows.
func preallocate(f *os.File, size int64, empty bool) error {
	if size == 0 {
		if empty {
			return nil
		}
		return f.Truncate(0)
	}
	err := unix.Fallocate(int(f.Fd()), 0, 0, size)
	if err == nil {
		if empty {
			return nil
		}
		return f.Truncate(size) // fallocate never shrinks a longer file
	}
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) {
		return f.Truncate(size)
	}
	return &os.PathError{Op: "fallocate", Path: f.Name(), Err: err}
}

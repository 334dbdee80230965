//go:build !linux

package xfer

import "os"

// copyRange copies n bytes of src at srcOff to dst at dstOff through buf
// (copy_file_range(2) is Linux's).
func copyRange(dst, src *os.File, dstOff, srcOff, n int64, buf []byte) error {
	return copyRangeRW(dst, src, dstOff, srcOff, n, buf)
}

package xfer

import (
	"io"
	"os"
)

// copyRangeRW copies n bytes of src at srcOff to dst at dstOff through
// buf, by reads and writes: the portable way, and the fallback of
// copyRange.
func copyRangeRW(dst, src *os.File, dstOff, srcOff, n int64, buf []byte) error {
	for n > 0 {
		b := buf[:min(int64(len(buf)), n)]
		if _, err := src.ReadAt(b, srcOff); err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		if _, err := dst.WriteAt(b, dstOff); err != nil {
			return err
		}
		srcOff, dstOff, n = srcOff+int64(len(b)), dstOff+int64(len(b)), n-int64(len(b))
	}
	return nil
}

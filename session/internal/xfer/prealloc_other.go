//go:build !linux

package xfer

import "os"

// preallocate makes f size bytes long (sparse where the file system
// allows).
func preallocate(f *os.File, size int64) error { return f.Truncate(size) }

//go:build !linux

package xfer

import "os"

// preallocate makes f size bytes long (sparse where the file system
// allows); empty (f holds no byte) changes nothing here.
func preallocate(f *os.File, size int64, empty bool) error { return f.Truncate(size) }

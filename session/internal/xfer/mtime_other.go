//go:build !linux

package xfer

import (
	"fmt"
	"os"
	"time"
)

// setWideMTime refuses an mtime beyond what UnixNano holds: os.Chtimes
// would set a wrong one.
func setWideMTime(_ *os.Root, name string, t time.Time) error {
	return &os.PathError{Op: "chtimes", Path: name, Err: fmt.Errorf("cannot set mtime %v on this system (only 1677 to 2262)", t)}
}

// mtimeSetOnOpen is false: the receiver sets the mtime by name
// (SetMTime), which os.Chtimes does exactly here.
const mtimeSetOnOpen = false

// setFileMTime is not used where mtimeSetOnOpen is false.
func setFileMTime(f *os.File, _ time.Time) error {
	return &os.PathError{Op: "futimens", Path: f.Name(), Err: fmt.Errorf("not supported")}
}

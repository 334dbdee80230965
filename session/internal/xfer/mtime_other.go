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

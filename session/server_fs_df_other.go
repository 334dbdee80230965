//go:build !linux && !darwin && !windows

package session

import (
	"errors"
	"os"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// statFS is not implemented on this system: a Df gets
// Reject{Internal}, after the path checks of os.Root.
func statFS(root *os.Root, _ string, p string) (*wire.DfResult, error) {
	if _, err := root.Stat(p); err != nil {
		return nil, err
	}
	return nil, &os.PathError{Op: "statfs", Path: p, Err: errors.ErrUnsupported}
}

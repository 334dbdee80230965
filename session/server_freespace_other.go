//go:build !unix && !windows

package session

import "errors"

// freeBytes is unknown on this platform.
func freeBytes(string) (uint64, error) {
	return 0, errors.ErrUnsupported
}

//go:build unix

package xfer

import "syscall"

// openNonblock makes an open return at once where it could wait (a FIFO
// without a writer); it does nothing to regular files.
const openNonblock = syscall.O_NONBLOCK

//go:build linux || darwin

package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// quietControlEcho turns off the echo of control characters (ECHOCTL,
// termios(3)) on the terminal f while progress bars are drawn on it, and
// returns the function that restores it. Without this, Ctrl-C echoes "^C"
// where the cursor stands, in the middle of the bars, and the bars'
// redraw, which counts its own lines, leaves them garbled (seen on tmux).
// The signal itself is unaffected. A terminal it cannot change is left
// alone.
func quietControlEcho(f *os.File) (restore func()) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
	if err != nil || old.Lflag&unix.ECHOCTL == 0 {
		return func() {}
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHOCTL
	if unix.IoctlSetTermios(fd, ioctlSetTermios, &quiet) != nil {
		return func() {}
	}
	return func() { _ = unix.IoctlSetTermios(fd, ioctlSetTermios, old) }
}

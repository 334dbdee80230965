package main

import "golang.org/x/sys/unix"

// The termios ioctls (tty(4)).
const (
	ioctlGetTermios = unix.TIOCGETA
	ioctlSetTermios = unix.TIOCSETA
)

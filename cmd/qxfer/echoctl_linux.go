package main

import "golang.org/x/sys/unix"

// The termios ioctls (ioctl_tty(2)).
const (
	ioctlGetTermios = unix.TCGETS
	ioctlSetTermios = unix.TCSETS
)

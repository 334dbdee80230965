//go:build !linux && !darwin

package main

import "os"

// quietControlEcho does nothing here (see echoctl_unix.go).
func quietControlEcho(*os.File) (restore func()) { return func() {} }

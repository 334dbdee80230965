package main

import (
	"fmt"
	"runtime/debug"

	"github.com/qxfer/qxfer/session"
)

type versionCmd struct{}

// Run prints the versions.
func (versionCmd) Run(e *env) error {
	fmt.Fprintf(e.stdout, "qxfer %s (protocol %s, quic-go %s)\n", version(), session.ALPN, quicVersion())
	return nil
}

// version is the module version qxfer was built from.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// quicVersion is the quic-go version qxfer was built with.
func quicVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/quic-go/quic-go" {
				return d.Version
			}
		}
	}
	return "unknown"
}

package certs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// Names of the trust files inside the qxfer home directory.
const (
	// AuthorizedClientsFile lists the client fingerprints a server accepts.
	AuthorizedClientsFile = "authorized_clients"
	// KnownHostsFile records the server fingerprints a client has accepted.
	KnownHostsFile = "known_hosts"
)

// errNoHome is returned by Home when no directory can be determined.
var errNoHome = errors.New("cannot determine the qxfer home directory")

// Home returns the qxfer home directory, which holds the identity and the
// trust files. In order of precedence:
//
//  1. $QXFER_HOME, if set;
//  2. $XDG_CONFIG_HOME/qxfer, if XDG_CONFIG_HOME is set to an absolute path
//     (the XDG spec says to ignore relative paths);
//  3. $HOME/.config/qxfer on every OS (the home directory is found as
//     [os.UserHomeDir] does: %USERPROFILE% on windows, $home on plan9).
//
// Variables are read through getenv so tests need not touch the process
// environment; nil means [os.Getenv].
func Home(getenv func(string) string) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if dir := getenv("QXFER_HOME"); dir != "" {
		return dir, nil
	}
	if dir := getenv("XDG_CONFIG_HOME"); dir != "" && filepath.IsAbs(dir) {
		return filepath.Join(dir, "qxfer"), nil
	}
	homeVar := "HOME"
	switch runtime.GOOS {
	case "windows":
		homeVar = "USERPROFILE"
	case "plan9":
		homeVar = "home"
	}
	home := getenv(homeVar)
	if home == "" {
		return "", &hintError{
			err:   fmt.Errorf("%w: $%s is not set", errNoHome, homeVar),
			hints: []string{"set QXFER_HOME or " + homeVar},
		}
	}
	return filepath.Join(home, ".config", "qxfer"), nil
}

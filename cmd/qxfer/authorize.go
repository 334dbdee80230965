package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/qxfer/qxfer/certs"
)

type authorizeCmd struct {
	Fingerprint string   `arg:"" name:"FINGERPRINT" help:"The client's fingerprint, as 'qxfer id' prints it on the client."`
	Label       []string `arg:"" optional:"" name:"LABEL" help:"Who the client is (free text, kept after the fingerprint as a comment)."`
}

// Run adds a line "FINGERPRINT LABEL" to $QXFER_HOME/authorized_clients,
// creating the directory (mode 0700) and the file if missing; a client
// already listed is left as it is. A running server picks the change up
// without a restart.
func (a *authorizeCmd) Run(e *env) error {
	fp, err := certs.ParseFingerprint(a.Fingerprint)
	if err == nil && fp.IsZero() {
		err = fmt.Errorf("%w: the all-zero fingerprint", certs.ErrBadFingerprint)
	}
	if err != nil {
		return withExit(exitUsage, fmt.Errorf("%s: %w", printable(a.Fingerprint), err), "pass the fingerprint that 'qxfer id' prints on the client, SHA256:...")
	}
	label := strings.Join(a.Label, " ")
	if !isPrintable(label) || strings.HasPrefix(label, "#") {
		return withExit(exitUsage, fmt.Errorf("label %s: control characters and a leading # are not allowed", printable(label)))
	}
	path := filepath.Join(e.home, certs.AuthorizedClientsFile)
	old, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(e.home, 0o700); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		ac, err := certs.ParseAuthorizedClients(strings.NewReader(string(old)))
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if ac.Contains(fp) {
			fmt.Fprintf(e.stderr, "qxfer: %s is already authorized in %s\n", fp, path)
			return nil
		}
	}
	line := fp.String()
	if label != "" {
		line += " " + label
	}
	line += "\n"
	if len(old) > 0 && !strings.HasSuffix(string(old), "\n") {
		line = "\n" + line
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "qxfer: authorized %s in %s\n", fp, path)
	return nil
}

// warnNoClients tells a server's operator at start when no client can
// connect yet (authorized_clients missing or listing nobody), with the
// command that adds one. Nothing is said with --open.
func warnNoClients(e *env, path string) {
	data, err := os.ReadFile(path)
	why := ""
	switch {
	case errors.Is(err, fs.ErrNotExist):
		why = path + " does not exist"
	case err != nil:
		return // the handshake reports it, client by client
	default:
		ac, err := certs.ParseAuthorizedClients(strings.NewReader(string(data)))
		if err != nil || ac.Len() > 0 {
			return
		}
		why = path + " lists no fingerprint"
	}
	fmt.Fprintf(e.stderr, "qxfer: no client is authorized yet (%s)\n", printable(why))
	fmt.Fprintf(e.stderr, "hint: on each client run 'qxfer id', then here: qxfer authorize FINGERPRINT [LABEL]\n")
	fmt.Fprintf(e.stderr, "hint: the server picks the change up without a restart\n")
}

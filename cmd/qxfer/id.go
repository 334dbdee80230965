package main

import "fmt"

type idCmd struct{}

// Run prints the fingerprint: one line, or with --json one idObject.
func (idCmd) Run(e *env) error {
	id, err := e.identity()
	if err != nil {
		return err
	}
	if e.json {
		return writeJSON(e, idObject{V: jsonVersion, Fingerprint: id.Fingerprint.String()})
	}
	fmt.Fprintln(e.stdout, id.Fingerprint)
	return nil
}

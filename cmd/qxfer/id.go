package main

import "fmt"

type idCmd struct{}

// Run prints the fingerprint.
func (idCmd) Run(e *env) error {
	id, err := e.identity()
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, id.Fingerprint)
	return nil
}

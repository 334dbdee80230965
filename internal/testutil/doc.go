// Package testutil holds the helpers the module's tests share: random
// files and their comparison, polling for a condition, a goroutine-leak
// check, a loopback QUIC pair over a self-signed ed25519 certificate,
// tmpfs mounts, and a directory outside a served root.
//
// It is for tests only: no product package may import it (the import
// arrows in internal/archtest say so), and it imports nothing of the
// module, so the tests of any package, down to the transfer engine, can
// use it.
package testutil

// Package session implements the qxfer protocol (see PROTOCOL.md): the
// command channel, the range streams of every file, the table of live
// transfers, and both ends of a session: Server serves a directory tree
// through an os.Root; Session, returned by Dial, is the one client type
// that lists, pushes and pulls, across reconnects. The transfer engine
// itself is session/internal/xfer.
//
// Every file is received into a ".NAME.qxfer.part" file beside its target,
// verified against the sender's SHA-256 and renamed only when the hash
// matches, so a half-written file never appears under its final name.
package session

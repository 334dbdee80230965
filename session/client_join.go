package session

import "github.com/qxfer/qxfer/session/internal/wire"

// joinAddr is where the pool connections of a session dial: the
// server's Welcome.JoinAddr (serve --advertise), else the address the
// session dialled (README, "N servers behind one name"). The pool's
// connections check the fingerprint the session's connection saw,
// whatever the address.
func joinAddr(dialled string, w *wire.Welcome) string {
	if w != nil && w.JoinAddr != "" {
		return w.JoinAddr
	}
	return dialled
}

// joinRefused is the error of a Join the server refused; wrong_server
// says the address led to another server than the session's.
func joinRefused(m *wire.Reject, addr string) error {
	msg := "pool connection refused: " + m.Msg
	if m.Code == CodeWrongServer {
		msg = "pool connection to " + addr + " reached another server than the session's: " + m.Msg
	}
	return &Error{Code: m.Code, Remote: true, Msg: msg}
}

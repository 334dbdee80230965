package session

import (
	"errors"
	"fmt"
	"os"

	"github.com/qxfer/qxfer/certs"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// op is a kind of request, as the access check sees it.
type op uint8

const (
	opRead   op = iota + 1 // pull: a file's bytes
	opList                 // list and stat: names and metadata
	opWrite                // push: create or replace a file
	opMkdir                // create directories
	opChange               // remove and rename
)

func (o op) String() string {
	switch o {
	case opRead:
		return "pull"
	case opList:
		return "listing"
	case opWrite:
		return "push"
	case opMkdir:
		return "mkdir"
	case opChange:
		return "remove and rename"
	}
	return "unknown"
}

// allow is the one access decision of the server: every request kind
// calls it with the raw path it received before touching the file system,
// and gets the clean path to use under ss.root (the client's world) or
// the refusal to send. The rules (SECURITY.md, "Access model"):
//
//   - read-only (the server's --read-only, or the client's option)
//     refuses opWrite, opMkdir and opChange with ReadOnly;
//   - write-only (a drop box: push and mkdir) refuses opRead, opList and
//     opChange with PermissionDenied, and it does so before the path is
//     even validated, so the answer is the same whether or not the name
//     exists (a remove or rename would tell);
//   - everything else is decided by cleanPath and, for names that pass
//     it, by os.Root on the client's root, which no path or symlink
//     leaves.
func (ss *serverSession) allow(o op, raw string) (string, error) {
	acc := ss.acc
	switch o {
	case opWrite, opMkdir, opChange:
		if ss.srv.cfg.ReadOnly {
			return "", xfer.Errorf(CodeReadOnly, raw, "server is read-only")
		}
		if acc.ReadOnly {
			return "", xfer.Errorf(CodeReadOnly, raw, "this client is read-only")
		}
	}
	switch o {
	case opRead, opList, opChange:
		if acc.WriteOnly {
			return "", &Error{Code: CodePermissionDenied, Msg: "this client is write-only: no " + o.String()}
		}
	}
	return cleanPath(raw)
}

// mayChange is allow for a request that removes or renames p.
func (ss *serverSession) mayChange(p string) (string, error) { return ss.allow(opChange, p) }

// tableKey is the server-table key of a client path: the path under the
// server root, so clients sharing a directory share its entries.
func (ss *serverSession) tableKey(p string) string {
	if ss.acc.Root == "" {
		return p
	}
	return joinPath(ss.acc.Root, p)
}

// errUnauthorized ends a session whose client's access cannot be read.
var errUnauthorized = errors.New("client not authorized")

// clientWorld looks up what the client with fingerprint fp may do and
// opens its root: the server root, or the directory of its root= option
// under it (which must exist). The returned root is the caller's to
// close when it is not the server's.
func (s *Server) clientWorld(fp certs.Fingerprint, known bool) (certs.ClientAccess, *os.Root, error) {
	var acc certs.ClientAccess
	if s.cfg.Access != nil {
		if !known {
			return acc, nil, fmt.Errorf("%w: no certificate", errUnauthorized)
		}
		var err error
		if acc, err = s.cfg.Access(fp); err != nil {
			return acc, nil, fmt.Errorf("%w: %w", errUnauthorized, err)
		}
	}
	if acc.Root == "" || s.s3 != nil {
		return acc, s.root, nil
	}
	r, err := s.root.OpenRoot(acc.Root)
	if err != nil {
		return acc, nil, fmt.Errorf("%w: root=%s: %w", errUnauthorized, acc.Root, err)
	}
	return acc, r, nil
}

// clientConns counts the open connections of each client with a
// max-connections option, and refuses one past its limit.
func (s *Server) enterClient(owner string, acc certs.ClientAccess) bool {
	s.clientMu.Lock()
	defer s.clientMu.Unlock()
	if acc.MaxConnections > 0 && s.clientConns[owner] >= acc.MaxConnections {
		return false
	}
	s.clientConns[owner]++
	return true
}

// leaveClient undoes enterClient.
func (s *Server) leaveClient(owner string) {
	s.clientMu.Lock()
	defer s.clientMu.Unlock()
	if s.clientConns[owner]--; s.clientConns[owner] <= 0 {
		delete(s.clientConns, owner)
	}
}

// enter sets the session up for its client: its access, its root, its
// label in the logs, and its place in the client's max-connections. An
// error is the code and message to close the connection with.
func (ss *serverSession) enter(fp certs.Fingerprint, known bool) (ErrorCode, string) {
	acc, root, err := ss.srv.clientWorld(fp, known)
	if err != nil {
		ss.log.Warn().Err(err).Msg("refused client")
		return CodePermissionDenied, "client not authorized"
	}
	if !ss.srv.enterClient(ss.owner, acc) {
		if root != ss.srv.root {
			root.Close()
		}
		ss.log.Warn().Str("label", acc.Label).Int("max_connections", acc.MaxConnections).Msg("refused connection: the client's max-connections are open")
		return CodeLimitExceeded, fmt.Sprintf("this client has %d connections open, its maximum", acc.MaxConnections)
	}
	ss.acc, ss.root = acc, root
	ss.store = ss.srv.storeFor(root, acc, &ss.dirs)
	if acc.Label != "" {
		ss.label = acc.Label
		ss.log = ss.log.With().Str("label", acc.Label).Logger()
	}
	return CodeOK, ""
}

// leave undoes enter once the session has ended.
func (ss *serverSession) leave() {
	ss.srv.leaveClient(ss.owner)
	if ss.root != ss.srv.root {
		ss.root.Close()
	}
}

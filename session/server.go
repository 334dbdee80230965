package session

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/rs/zerolog"

	"github.com/qxfer/qxfer/quicx"
)

// ServerConfig configures a Server. Only Root is required.
type ServerConfig struct {
	// Root is the directory served. Every file access goes through an
	// os.Root opened on it, so nothing outside it is ever read or written.
	Root string
	// ReadOnly refuses pushes and mkdir.
	ReadOnly bool
	// MaxTransfers is how many transfers one session may run at once.
	// Default 64.
	MaxTransfers int
	// MaxListEntries bounds one directory listing. Default 100000.
	MaxListEntries int
	// HelloTimeout bounds the wait for the command stream and its hello.
	// Default 10s.
	HelloTimeout time.Duration
	// StreamWait bounds how long a data stream waits for its Put (the two
	// travel separately and may arrive in either order). Default 30s.
	StreamWait time.Duration
	// Software is sent in the welcome. Default "qxfer".
	Software string
	// Logger receives the server's logs. The zero value discards them.
	Logger zerolog.Logger
}

func (c ServerConfig) populate() ServerConfig {
	if c.MaxTransfers <= 0 {
		c.MaxTransfers = 64
	}
	if c.MaxListEntries <= 0 {
		c.MaxListEntries = 100000
	}
	if c.HelloTimeout <= 0 {
		c.HelloTimeout = 10 * time.Second
	}
	if c.StreamWait <= 0 {
		c.StreamWait = 30 * time.Second
	}
	if c.Software == "" {
		c.Software = "qxfer"
	}
	return c
}

// Listener is what a Server accepts connections from; *quicx.Listener
// implements it.
type Listener interface {
	Accept(ctx context.Context) (*quic.Conn, error)
}

// Server serves one directory tree to authenticated clients.
type Server struct {
	cfg   ServerConfig
	root  *os.Root
	log   zerolog.Logger
	table *Table // live pushes across all sessions, keyed by path
}

// NewServer opens cfg.Root.
func NewServer(cfg ServerConfig) (*Server, error) {
	cfg = cfg.populate()
	if cfg.Root == "" {
		return nil, errors.New("server root not set")
	}
	root, err := os.OpenRoot(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("open root: %w", err)
	}
	return &Server{cfg: cfg, root: root, log: cfg.Logger, table: NewTable()}, nil
}

// Transfers returns the table of live pushes (all sessions).
func (s *Server) Transfers() *Table { return s.table }

// Close releases the root. Call it after Serve has returned.
func (s *Server) Close() error { return s.root.Close() }

// Serve accepts connections until ctx is done or ln fails, serving each in
// its own goroutine. When ctx is done every connection is closed with
// CodeShutdown; Serve returns only after all of them have finished.
func (s *Server) Serve(ctx context.Context, ln Listener) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		conn, err := ln.Accept(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept: %w", err)
		}
		wg.Go(func() { s.serveConn(ctx, conn) })
	}
}

// serveConn runs one session and closes its connection with the code of
// whatever ended it.
func (s *Server) serveConn(ctx context.Context, conn *quic.Conn) {
	log := s.log.With().Str("peer", conn.RemoteAddr().String()).Logger()
	if fp, ok := quicx.PeerFingerprint(conn.ConnectionState().TLS); ok {
		log = log.With().Stringer("client", fp).Logger()
	}
	stop := context.AfterFunc(ctx, func() {
		conn.CloseWithError(quic.ApplicationErrorCode(CodeShutdown), "server shutting down")
	})
	defer stop()
	log.Info().Msg("session started")
	ss := newServerSession(s, conn, log)
	err := ss.run(conn.Context())
	code, msg := closeCode(err)
	conn.CloseWithError(quic.ApplicationErrorCode(code), msg)
	ss.wait()
	ev := log.Info()
	if code != CodeOK {
		ev = log.Warn()
	}
	ev.Stringer("code", code).AnErr("reason", err).Msg("session ended")
}

// protoError ends a session with a connection close code.
type protoError struct {
	code ErrorCode
	msg  string
}

func (e *protoError) Error() string { return e.code.String() + ": " + e.msg }

func protocolErrorf(code ErrorCode, format string, args ...any) *protoError {
	return &protoError{code: code, msg: fmt.Sprintf(format, args...)}
}

// closeCode picks the connection close code for the error that ended a
// session: protocol errors carry their own; a peer that went away needs no
// code.
func closeCode(err error) (ErrorCode, string) {
	var pe *protoError
	if errors.As(err, &pe) {
		return pe.code, pe.msg
	}
	return CodeOK, ""
}

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/qxfer/qxfer/certs"
	"github.com/qxfer/qxfer/quicx"
	"github.com/qxfer/qxfer/session"
)

type serveCmd struct {
	Listen       string `name:"listen" short:"l" default:"[::]:4433" env:"QXFER_LISTEN" help:"UDP address to listen on."`
	Root         string `name:"root" required:"" env:"QXFER_ROOT" placeholder:"DIR" help:"Directory to serve; nothing outside it is ever read or written."`
	ReadOnly     bool   `name:"read-only" env:"QXFER_READ_ONLY" help:"Refuse uploads and mkdir."`
	Open         bool   `name:"open" help:"Accept any client certificate (no authorized_clients check). Dangerous."`
	MaxTransfers int    `name:"max-transfers" default:"1024" env:"QXFER_MAX_TRANSFERS" help:"Transfers one session may have in flight."`
	MaxConns     int    `name:"max-connections" default:"256" env:"QXFER_MAX_CONNECTIONS" help:"Sessions served at once; more are closed with limit_exceeded."`
	MaxList      int    `name:"max-list-entries" default:"100000" env:"QXFER_MAX_LIST_ENTRIES" help:"Largest directory a listing returns; larger ones are refused."`
	IdleTimeout  string `name:"idle-timeout" default:"30s" env:"QXFER_IDLE_TIMEOUT" help:"Close connections silent for this long."`
	MinFree      string `name:"min-free" default:"64M" env:"QXFER_MIN_FREE" placeholder:"SIZE" help:"Free space to keep on the root's file system: a push that would leave less is refused with no_space before a byte is sent. Bytes with an optional K, M, G or T suffix (powers of 1024); 0 keeps none."`
}

// Run serves until SIGINT or SIGTERM.
func (s *serveCmd) Run(ctx context.Context, e *env) error {
	fi, err := os.Stat(s.Root)
	if err != nil {
		return withExit(exitUsage, fmt.Errorf("root %s: %w", s.Root, err), "create it first, or pick another --root")
	}
	if !fi.IsDir() {
		return withExit(exitUsage, fmt.Errorf("root %s is not a directory", s.Root))
	}
	idle, err := parseDuration(s.IdleTimeout)
	if err != nil {
		return withExit(exitUsage, fmt.Errorf("--idle-timeout: %w", err))
	}
	minFree, err := certs.ParseSize(s.MinFree)
	if err != nil {
		return withExit(exitUsage, fmt.Errorf("--min-free: %w", err), "SIZE is bytes with an optional K, M, G or T suffix (powers of 1024), for example 64M or 1G")
	}
	id, err := e.identity()
	if err != nil {
		return err
	}
	authPath := filepath.Join(e.home, certs.AuthorizedClientsFile)
	auth := certs.NewAuthorizedFile(authPath)
	// access is asked in the handshake and again when the session starts
	// (the file may have changed): a client's line as it is then governs
	// the session.
	access := func(fp certs.Fingerprint) (certs.ClientAccess, error) {
		acc, err := auth.Lookup(fp)
		var oe *certs.OptionError
		switch {
		case errors.As(err, &oe):
			e.log.Error().Stringer("client", fp).Str("file", oe.File).Int("line", oe.Line).Str("option", oe.Option).
				Str("reason", oe.Reason).Msg("refused client: bad option in authorized_clients")
		case errors.Is(err, certs.ErrNotListed):
			e.log.Warn().Stringer("client", fp).Str("file", authPath).Msg("refused unknown client; add its fingerprint to authorized_clients to allow it")
			err = fmt.Errorf("client %s not authorized", fp)
		case err != nil:
			e.log.Error().Err(err).Msg("cannot read authorized_clients; refusing client")
		}
		return acc, err
	}
	verify := func(fp certs.Fingerprint) error {
		if s.Open {
			return nil
		}
		_, err := access(fp)
		return err
	}
	serverAccess := access
	if s.Open {
		serverAccess = nil
		e.log.Warn().Msg("--open: ANY client with any certificate may read and write under the root")
	}
	ln, err := quicx.Listen(s.Listen, quicx.ServerTLS(id, session.ALPN, verify), quicx.Config{IdleTimeout: idle}, e.log)
	if err != nil {
		return withExit(exitConnect, err)
	}
	defer ln.Close()
	root, _ := filepath.Abs(s.Root)
	srv, err := session.NewServer(session.ServerConfig{
		Root: root, ReadOnly: s.ReadOnly, MaxTransfers: s.MaxTransfers,
		MaxConnections: s.MaxConns, MaxListEntries: s.MaxList, MinFree: uint64(minFree),
		Software: "qxfer/" + version(), Logger: e.log,
		Access: serverAccess,
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(e.stdout, "qxfer serving %s on %s\nfingerprint %s\n", root, ln.Addr(), id.Fingerprint)
	e.log.Info().Str("root", root).Stringer("addr", ln.Addr()).Stringer("fingerprint", id.Fingerprint).
		Bool("read_only", s.ReadOnly).Bool("open", s.Open).Msg("serving")
	err = srv.Serve(ctx, ln)
	e.log.Info().Msg("server stopped")
	return err
}

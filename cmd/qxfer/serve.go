package main

import (
	"context"
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
	MaxConns     int    `name:"max-connections" default:"256" env:"QXFER_MAX_CONNECTIONS" help:"Connections served at once (each connection of a client's pool counts); more are closed with limit_exceeded."`
	MaxList      int    `name:"max-list-entries" default:"100000" env:"QXFER_MAX_LIST_ENTRIES" help:"Largest directory a listing returns; larger ones are refused."`
	IdleTimeout  string `name:"idle-timeout" default:"30s" env:"QXFER_IDLE_TIMEOUT" help:"Close connections silent for this long."`
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
	id, err := e.identity()
	if err != nil {
		return err
	}
	authPath := filepath.Join(e.home, certs.AuthorizedClientsFile)
	auth := certs.NewAuthorizedFile(authPath)
	verify := func(fp certs.Fingerprint) error {
		if s.Open {
			return nil
		}
		ok, err := auth.Allowed(fp)
		if err != nil {
			e.log.Error().Err(err).Msg("cannot read authorized_clients; refusing client")
			return err
		}
		if !ok {
			e.log.Warn().Stringer("client", fp).Str("file", authPath).Msg("refused unknown client; add its fingerprint to authorized_clients to allow it")
			return fmt.Errorf("client %s not authorized", fp)
		}
		return nil
	}
	if s.Open {
		e.log.Warn().Msg("--open: ANY client with any certificate may read and write under the root")
	} else {
		warnNoClients(e, authPath)
	}
	ln, err := quicx.Listen(s.Listen, quicx.ServerTLS(id, session.ALPN, verify), quicx.Config{IdleTimeout: idle}, e.log)
	if err != nil {
		return withExit(exitConnect, err)
	}
	defer ln.Close()
	root, _ := filepath.Abs(s.Root)
	srv, err := session.NewServer(session.ServerConfig{
		Root: root, ReadOnly: s.ReadOnly, MaxTransfers: s.MaxTransfers,
		MaxConnections: s.MaxConns, MaxListEntries: s.MaxList,
		Software: "qxfer/" + version(), Logger: e.log,
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

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/qxfer/qxfer/certs"
	"github.com/qxfer/qxfer/quicx"
	"github.com/qxfer/qxfer/session"
)

type serveCmd struct {
	Listen          string `name:"listen" short:"l" default:"[::]:4433" env:"QXFER_LISTEN" help:"UDP address to listen on."`
	Root            string `name:"root" required:"" env:"QXFER_ROOT" placeholder:"DIR" help:"Directory to serve; nothing outside it is ever read or written. s3://BUCKET/PREFIX serves an S3 bucket instead (credentials from the AWS environment variables and files; see README, S3 roots)."`
	S3Endpoint      string `name:"s3-endpoint" env:"QXFER_S3_ENDPOINT" placeholder:"URL" help:"URL of an S3-compatible store (http://HOST:PORT or https://HOST), addressed path-style; unset means AWS. Only with an s3:// root."`
	S3Region        string `name:"s3-region" env:"QXFER_S3_REGION" placeholder:"REGION" help:"Region of the S3 bucket; unset lets the client find it."`
	S3Lease         string `name:"s3-lease" default:"30s" env:"QXFER_S3_LEASE" help:"How long this server's claim on an upload to an S3 root lasts unrenewed: another server of the same bucket resumes an upload whose server died after it."`
	Advertise       string `name:"advertise" env:"QXFER_ADVERTISE" placeholder:"HOST:PORT" help:"This server's own address, which clients dial for the pool connections of their sessions: set it on each of several servers behind one name (README, N servers behind one name)."`
	ReadOnly        bool   `name:"read-only" env:"QXFER_READ_ONLY" help:"Refuse uploads and mkdir."`
	Open            bool   `name:"open" help:"Accept any client certificate (no authorized_clients check). Dangerous."`
	MaxTransfers    int    `name:"max-transfers" default:"1024" env:"QXFER_MAX_TRANSFERS" help:"Transfers one session may have in flight."`
	MaxConns        int    `name:"max-connections" default:"256" env:"QXFER_MAX_CONNECTIONS" help:"Connections served at once (each connection of a client's pool counts); more are closed with limit_exceeded."`
	MaxList         int    `name:"max-list-entries" default:"100000" env:"QXFER_MAX_LIST_ENTRIES" help:"Largest directory a listing returns; larger ones are refused."`
	IdleTimeout     string `name:"idle-timeout" default:"30s" env:"QXFER_IDLE_TIMEOUT" help:"Close connections silent for this long."`
	PartialTTL      string `name:"partial-ttl" default:"168h" env:"QXFER_PARTIAL_TTL" help:"Remove partial uploads (.part and resume record) untouched for this long, at start and periodically; 0 keeps them forever."`
	MetricsListen   string `name:"metrics-listen" env:"QXFER_METRICS_LISTEN" placeholder:"ADDR" help:"Serve Prometheus metrics over HTTP on this TCP address, at /metrics (off by default)."`
	AccessLog       string `name:"access-log" env:"QXFER_ACCESS_LOG" placeholder:"FILE" type:"path" help:"Append one JSON line per ended transfer to FILE (SIGHUP reopens it) instead of logging it to stderr."`
	ShutdownTimeout string `name:"shutdown-timeout" default:"30s" env:"QXFER_SHUTDOWN_TIMEOUT" help:"On SIGTERM or SIGINT, let running transfers finish for this long before closing; a second signal closes at once."`
	MinFree         string `name:"min-free" default:"64M" env:"QXFER_MIN_FREE" placeholder:"SIZE" help:"Free space to keep on the root's file system: a push that would leave less is refused with no_space before a byte is sent. Bytes with an optional K, M, G or T suffix (powers of 1024); 0 keeps none."`
}

// serveFlags are the parsed duration flags of serve.
type serveFlags struct {
	idle, partialTTL, shutdown, s3Lease time.Duration
}

func (s *serveCmd) parseFlags() (serveFlags, error) {
	var f serveFlags
	var err error
	if f.idle, err = parseDuration(s.IdleTimeout); err != nil {
		return f, withExit(exitUsage, fmt.Errorf("--idle-timeout: %w", err))
	}
	if f.partialTTL, err = parseDurationOrZero(s.PartialTTL); err != nil {
		return f, withExit(exitUsage, fmt.Errorf("--partial-ttl: %w", err))
	}
	if f.shutdown, err = parseDurationOrZero(s.ShutdownTimeout); err != nil {
		return f, withExit(exitUsage, fmt.Errorf("--shutdown-timeout: %w", err))
	}
	if f.s3Lease, err = parseDuration(s.S3Lease); err != nil {
		return f, withExit(exitUsage, fmt.Errorf("--s3-lease: %w", err))
	}
	if err := session.CheckAdvertise(s.Advertise); err != nil {
		return f, withExit(exitUsage, fmt.Errorf("--advertise: %w", err))
	}
	return f, nil
}

// parseDurationOrZero reads a duration flag that may be zero but not
// negative (--partial-ttl, --shutdown-timeout).
func parseDurationOrZero(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, fmt.Errorf("must not be negative, got %s", s)
	}
	return d, nil
}

// Run serves until SIGINT or SIGTERM, then shuts down gracefully (see
// shutdown).
func (s *serveCmd) Run(ctx context.Context, e *env) error {
	s3 := session.IsS3Root(s.Root)
	if !s3 {
		fi, err := os.Stat(s.Root)
		if err != nil {
			return withExit(exitUsage, fmt.Errorf("root %s: %w", s.Root, err), "create it first, or pick another --root")
		}
		if !fi.IsDir() {
			return withExit(exitUsage, fmt.Errorf("root %s is not a directory", s.Root))
		}
	}
	flags, err := s.parseFlags()
	if err != nil {
		return err
	}
	minFree, err := certs.ParseSize(s.MinFree)
	if err != nil {
		return withExit(exitUsage, fmt.Errorf("--min-free: %w", err), "SIZE is bytes with an optional K, M, G or T suffix (powers of 1024), for example 64M or 1G")
	}
	id, err := e.identity()
	if err != nil {
		return err
	}
	// Signals are caught from the start, so that none arriving while
	// the server starts is lost to the default handling.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	accessLog := e.log
	var accessFile *reopenFile
	if s.AccessLog != "" {
		if accessFile, err = openReopenFile(s.AccessLog); err != nil {
			return withExit(exitUsage, fmt.Errorf("--access-log: %w", err))
		}
		defer accessFile.Close()
		accessLog = zerolog.New(accessFile).With().Timestamp().Logger()
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
	serverAccess := access
	if s.Open {
		serverAccess = nil
		e.log.Warn().Msg("--open: ANY client with any certificate may read and write under the root")
	} else {
		warnNoClients(e, authPath)
	}
	root := s.Root
	if !s3 {
		root, _ = filepath.Abs(s.Root)
	}
	srv, err := session.NewServer(session.ServerConfig{
		S3Endpoint: s.S3Endpoint, S3Region: s.S3Region, S3LeaseTTL: flags.s3Lease, Advertise: s.Advertise,
		Root: root, ReadOnly: s.ReadOnly, MaxTransfers: s.MaxTransfers,
		MaxConnections: s.MaxConns, MaxListEntries: s.MaxList, MinFree: uint64(minFree),
		Software: "qxfer/" + version(), Logger: e.log,
		AccessLog: accessLog, PartialTTL: flags.partialTTL, Access: serverAccess,
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	verify := func(fp certs.Fingerprint) error {
		if s.Open {
			return nil
		}
		if _, err := access(fp); err != nil {
			srv.CountHandshakeFailure(session.FailUnauthorized)
			return err
		}
		return nil
	}
	ln, err := quicx.Listen(s.Listen, quicx.ServerTLS(id, session.ALPN, verify), quicx.Config{IdleTimeout: flags.idle}, e.log)
	if err != nil {
		return withExit(exitConnect, err)
	}
	defer ln.Close()

	var wg sync.WaitGroup
	defer wg.Wait()
	if s.MetricsListen != "" {
		hs, err := serveMetrics(&wg, s.MetricsListen, srv, e.log)
		if err != nil {
			return withExit(exitUsage, fmt.Errorf("--metrics-listen: %w", err))
		}
		defer hs.Close()
	}

	fmt.Fprintf(e.stdout, "qxfer serving %s on %s\nfingerprint %s\n", root, ln.Addr(), id.Fingerprint)
	e.log.Info().Str("root", root).Stringer("addr", ln.Addr()).Stringer("fingerprint", id.Fingerprint).
		Bool("read_only", s.ReadOnly).Bool("open", s.Open).Dur("partial_ttl", flags.partialTTL).Msg("serving")

	// Serve runs until hard is cancelled: at once on a second signal,
	// after the drain otherwise.
	hard, stopHard := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHard()
	served := make(chan error, 1)
	wg.Go(func() { served <- srv.Serve(hard, ln) })
	hup := func() {
		if accessFile == nil {
			e.log.Info().Msg("SIGHUP: no --access-log file to reopen")
			return
		}
		if err := accessFile.reopen(); err != nil {
			e.log.Error().Err(err).Str("file", s.AccessLog).Msg("SIGHUP: cannot reopen the access log; still writing to the old file")
			return
		}
		e.log.Info().Str("file", s.AccessLog).Msg("SIGHUP: access log reopened")
	}
	stops := 0 // SIGINT and SIGTERM received
wait:
	for {
		select {
		case err := <-served:
			e.log.Info().Msg("server stopped")
			return err
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				hup()
				continue
			}
			stops++
			break wait
		case <-ctx.Done():
			// main's signal context: the same signal is on sigs too.
			break wait
		}
	}
	s.shutdown(srv, flags.shutdown, sigs, &stops, hup, e.log)
	stopHard()
	err = <-served
	e.log.Info().Msg("server stopped")
	return err
}

// shutdown drains srv for up to timeout (Server.Shutdown): it returns
// when every session has ended, when the timeout passes, or at a second
// SIGINT or SIGTERM; the caller then closes what is left with the
// shutdown code, which clients answer by keeping their partial files and
// reconnecting. SIGHUP still reopens the access log meanwhile.
func (s *serveCmd) shutdown(srv *session.Server, timeout time.Duration, sigs <-chan os.Signal, stops *int, hup func(), log zerolog.Logger) {
	log.Info().Dur("timeout", timeout).Int("sessions", srv.Sessions()).Int("pushes", srv.Transfers().Len()).
		Msg("shutting down: refusing new sessions and transfers, letting running ones finish; a second signal closes at once")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(ctx) }() // ends with ctx at the latest; waited for below
	for {
		select {
		case err := <-done:
			if err != nil {
				log.Warn().Int("sessions", srv.Sessions()).Msg("shutdown timeout: closing the sessions left; their clients keep their partial files")
			}
			return
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				hup()
				continue
			}
			// The signal that started the shutdown may arrive here
			// after ctx.Done did.
			if *stops++; *stops >= 2 {
				log.Warn().Msg("second signal: closing at once")
				cancel()
			}
		}
	}
}

// metricsReadTimeout bounds how long the metrics endpoint waits for a
// request's headers, so an idle scraper connection cannot hold it.
const metricsReadTimeout = 10 * time.Second

// serveMetrics serves srv's metrics at http://addr/metrics in a goroutine
// owned by wg, until the returned server is closed.
func serveMetrics(wg *sync.WaitGroup, addr string, srv *session.Server, log zerolog.Logger) (*http.Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", srv.MetricsHandler())
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: metricsReadTimeout}
	log.Info().Str("url", "http://"+l.Addr().String()+"/metrics").Msg("serving metrics")
	wg.Go(func() {
		if err := hs.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("metrics endpoint stopped")
		}
	})
	return hs, nil
}

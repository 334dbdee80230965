package session

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/rs/zerolog"

	"github.com/qxfer/qxfer/certs"
	"github.com/qxfer/qxfer/quicx"
	"github.com/qxfer/qxfer/session/internal/store"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// ServerConfig configures a Server. Only Root is required.
type ServerConfig struct {
	// Root is the directory served. Every file access goes through an
	// os.Root opened on it, so nothing outside it is ever read or written.
	// s3://BUCKET/PREFIX serves an S3 bucket instead (S3Endpoint,
	// S3Region; README, "S3 roots").
	Root string
	// S3Endpoint is the URL of an S3-compatible store
	// (http://host:port); empty means AWS. Only for an s3:// Root.
	S3Endpoint string
	// S3Region is the bucket's region; empty lets the client find it.
	S3Region string
	// S3LeaseTTL is how long a server's claim on an upload to an S3
	// root lasts without being renewed: another server serving the same
	// bucket resumes an upload whose writer died only after it. Default
	// 30s.
	S3LeaseTTL time.Duration
	// Advertise, when set, is this server's own address (HOST:PORT) that
	// clients dial for the pool connections of their sessions
	// (Welcome.JoinAddr): needed when several servers share one name
	// (README, "N servers behind one name"). Empty: clients join at the
	// address they dialled.
	Advertise string

	// s3PartSize, in tests, makes S3 multipart parts smaller than the
	// default 8 MiB (at least 5 MiB).
	s3PartSize uint64
	// ReadOnly refuses pushes and mkdir.
	ReadOnly bool
	// MaxTransfers is how many transfers one session may have in flight
	// (offered and not yet finished). Default 1024: a pipelined push of
	// small files keeps many offers outstanding; each costs a table entry,
	// and open streams are bounded separately by the QUIC stream limit.
	MaxTransfers int
	// MaxListEntries bounds one directory listing; a larger directory is
	// refused with LimitExceeded. Default 100000.
	MaxListEntries int
	// MaxConnections bounds how many sessions run at once, across all
	// clients. A connection beyond it is closed right after the handshake
	// with LimitExceeded. Default 256. Per connection, open streams are
	// bounded by QUIC (quicx.Config: 256 uni, 2 bidi) and unread bytes by
	// the QUIC receive windows (32 MiB per stream, 64 MiB per connection).
	MaxConnections int
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

	// Access returns what the client with certificate fingerprint fp may
	// do (its authorized_clients line), asked when each connection
	// starts; an error refuses the connection with PermissionDenied. Nil:
	// every client has the whole root (certs.ClientAccess{}).
	Access func(fp certs.Fingerprint) (certs.ClientAccess, error)
	// MinFree is the free space, in bytes, a push must leave on the file
	// system it writes to; a file that would not is refused with
	// NoSpace before a byte is sent. Default 0.
	MinFree uint64
	// AccessLog receives one info line per ended transfer (see
	// serverSession.transferEnded for its fields). The zero value
	// discards them.
	AccessLog zerolog.Logger
	// ClientLabel names a client, by the canonical form of its
	// certificate fingerprint, in metrics and the access log. Nil, or
	// an empty answer: the fingerprint's short form ("SHA256:" and its
	// first 8 characters).
	ClientLabel func(fingerprint string) string
	// PartialTTL is how long a push's partial file (its .part and resume
	// record) may sit untouched before a sweep removes it: once when
	// Serve starts, then every quarter of PartialTTL (at most hourly).
	// A sweep walks the root while no session runs, pausing while one
	// does for at most that quarter (sweepLoop).
	// Zero, the default, keeps partials forever; qxfer serve's
	// --partial-ttl defaults to a week.
	PartialTTL time.Duration
}

func (c ServerConfig) populate() ServerConfig {
	if c.MaxTransfers <= 0 {
		c.MaxTransfers = 1024
	}
	if c.MaxListEntries <= 0 {
		c.MaxListEntries = 100000
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = 256
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
	cfg       ServerConfig
	root      *os.Root  // nil when the root is an S3 bucket
	s3        *store.S3 // the bucket of an s3:// root, else nil
	log       zerolog.Logger
	table     *Table        // live pushes across all sessions, keyed by path
	sessions  atomic.Uint64 // session ids
	live      atomic.Int64  // connections running now, bounded by MaxConnections
	metrics   *serverMetrics
	drain     chan struct{} // closed by Shutdown
	drainOnce sync.Once

	// instance names this server process in its session tokens (8
	// random bytes), so a pool connection that reached another server
	// is told so (server_pool.go).
	instance []byte

	// poolMu guards pools.
	poolMu sync.Mutex
	pools  map[string]*serverSession // by Welcome token, for pool connections to join

	space  *xfer.Space // free space and the pushes admitted against it
	quotas *quotas     // usage of each client root with a quota
	// dirGen is bumped by a removal or a rename in any session, so that
	// no session keeps writing through a directory it held open under
	// its old name (xfer.KnownDirs).
	dirGen xfer.DirGen
	// durable groups the fsyncs of the small files of every push
	// (xfer.GroupSync).
	durable xfer.GroupSync
	// predatesFeatures (tests only) makes the server skip Features and
	// ListPacked as a server that predates them does.
	predatesFeatures atomic.Bool

	// clientMu guards clientConns.
	clientMu    sync.Mutex
	clientConns map[string]int // open connections by client fingerprint
}

// NewServer opens cfg.Root.
func NewServer(cfg ServerConfig) (*Server, error) {
	cfg = cfg.populate()
	if cfg.Root == "" {
		return nil, errors.New("server root not set")
	}
	if err := CheckAdvertise(cfg.Advertise); err != nil {
		return nil, fmt.Errorf("advertise: %w", err)
	}
	var root *os.Root
	s3, err := openS3Root(cfg)
	if err != nil {
		return nil, err
	}
	if s3 == nil {
		if root, err = os.OpenRoot(cfg.Root); err != nil {
			return nil, fmt.Errorf("open root: %w", err)
		}
	}
	s := &Server{
		cfg: cfg, root: root, s3: s3, log: cfg.Logger, table: NewTable(), pools: map[string]*serverSession{},
		space: xfer.NewSpace(cfg.MinFree, "the server's disk"), quotas: newQuotas(), clientConns: map[string]int{},
		drain: make(chan struct{}),
	}
	s.metrics = newServerMetrics(s)
	s.instance = make([]byte, 8)
	rand.Read(s.instance)
	return s, nil
}

// Transfers returns the table of live pushes (all sessions).
func (s *Server) Transfers() *Table { return s.table }

// Sessions returns how many sessions are running now.
func (s *Server) Sessions() int { return int(s.live.Load()) }

// Close releases the root. Call it after Serve has returned.
func (s *Server) Close() error {
	if s.root == nil {
		return nil
	}
	return s.root.Close()
}

// Serve accepts connections until ctx is done or ln fails, serving each in
// its own goroutine. When ctx is done every connection is closed with
// CodeShutdown; Serve returns only after all of them have finished.
func (s *Server) Serve(ctx context.Context, ln Listener) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { s.sweepLoop(ctx) })
	for {
		conn, err := ln.Accept(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept: %w", err)
		}
		if s.draining() {
			s.CountHandshakeFailure(failShutdown)
			conn.CloseWithError(quic.ApplicationErrorCode(CodeShutdown), "server shutting down")
			continue
		}
		if n := s.live.Add(1); n > int64(s.cfg.MaxConnections) {
			s.live.Add(-1)
			s.CountHandshakeFailure(failLimit)
			s.log.Warn().Str("peer", conn.RemoteAddr().String()).Int("max_connections", s.cfg.MaxConnections).
				Msg("refused connection: too many sessions")
			conn.CloseWithError(quic.ApplicationErrorCode(CodeLimitExceeded),
				fmt.Sprintf("server has %d sessions, the maximum", s.cfg.MaxConnections))
			continue
		}
		wg.Go(func() {
			defer s.live.Add(-1)
			s.serveConn(ctx, conn)
		})
	}
}

// serveConn runs one session and closes its connection with the code of
// whatever ended it.
func (s *Server) serveConn(ctx context.Context, conn *quic.Conn) {
	log := s.log.With().Str("peer", conn.RemoteAddr().String()).Logger()
	var owner string
	fp, known := quicx.PeerFingerprint(conn.ConnectionState().TLS)
	if known {
		log = log.With().Stringer("client", fp).Logger()
		owner = fp.String()
	}
	stop := context.AfterFunc(ctx, func() {
		conn.CloseWithError(quic.ApplicationErrorCode(CodeShutdown), "server shutting down")
	})
	defer stop()
	log.Info().Msg("session started")
	ss := newServerSession(s, conn, owner, log)
	if code, msg := ss.enter(fp, known); code != CodeOK {
		conn.CloseWithError(quic.ApplicationErrorCode(code), msg)
		return
	}
	defer ss.leave()
	log = ss.log
	ss.id = s.sessions.Add(1)
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

// takeoverWait bounds how long a push waits for the transfer it takes over
// to stop.
const takeoverWait = 10 * time.Second

// acquire registers push t for path p in the server table. If a push of
// the same path by the same client (same certificate) is still live, as
// when a client reconnects before the server has noticed its old
// connection die, that transfer is stopped and its resume record flushed
// before t takes its place: never two writers on one .part. A push by
// another client gets CodeBusy.
func (s *Server) acquire(ctx context.Context, t *Transfer, p string) error {
	for attempt := 0; ; attempt++ {
		err := s.table.add(t, p)
		if err == nil {
			return nil
		}
		old := s.table.lookup(Push, p)
		if old == nil {
			continue // it ended meanwhile
		}
		if t.owner == "" || old.owner != t.owner || old.sess == t.sess || attempt > 0 {
			return err
		}
		s.log.Info().Str("path", p).Uint64("old_id", old.ID).Msg("taking over a push from an older connection of the same client")
		old.cancelWith(&Error{Code: CodeCancelled, Msg: "taken over by a newer connection of the same client"})
		timer := time.NewTimer(takeoverWait)
		select {
		case <-old.done:
			timer.Stop()
		case <-timer.C:
			return err
		case <-ctx.Done():
			timer.Stop()
			return err
		}
	}
}

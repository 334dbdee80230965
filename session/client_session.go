package session

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/qxfer/qxfer/certs"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// EventKind names a connection event of a Session.
type EventKind uint8

// Connection events.
const (
	// EventReconnecting: the connection died; the session is dialing
	// again (Attempt, Err).
	EventReconnecting EventKind = iota + 1
	// EventReconnected: a new connection is up; unfinished transfers
	// resume from their offsets.
	EventReconnected
	// EventMigrated: the connection moved to a new local address without
	// interrupting transfers (Detail says from where to where).
	EventMigrated
	// EventMigrationFailed: probing the new path failed; the session falls
	// back to reconnecting.
	EventMigrationFailed
)

var eventNames = [...]string{"", "reconnecting", "reconnected", "migrated", "migration_failed"}

func (k EventKind) String() string {
	if int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "unknown"
}

// Event is something that happened to a session's connection.
type Event struct {
	Kind    EventKind
	Attempt int           // EventReconnecting: 1 for the first dial
	Delay   time.Duration // EventReconnected: time since the connection died
	Detail  string
	Err     error
}

// sessionConfig configures newSession. The zero value reconnects for two
// minutes.
type sessionConfig struct {
	// RetryFor bounds how long the session keeps dialing after its
	// connection died. Default 2 minutes; negative disables reconnecting.
	RetryFor time.Duration
	// OnEvent, if set, receives reconnect and migration events.
	OnEvent func(Event)
	// Logger receives the session's logs.
	Logger zerolog.Logger
}

// dialAttempt bounds one reconnect attempt (handshake and hello).
const dialAttempt = 5 * time.Second

// dialFunc connects a new connection that registers its transfers in
// table.
type dialFunc func(ctx context.Context, table *Table) (*clientConn, error)

// Session is qxfer's client: one session with a server that survives its
// connection. It lists, pushes and pulls over a connection (and its pool);
// when the connection dies (idle timeout, network down, server restart) it
// dials again with exponential backoff and jitter, for up to
// ClientConfig.RetryFor, and runs every unfinished transfer again from the
// receiver's durable ranges. Files that were completed are not sent again.
// Its methods are safe for concurrent use.
type Session struct {
	dial  dialFunc
	cfg   sessionConfig
	table *Table

	// mu guards the following fields; it is held while reconnecting so
	// that only one dial runs.
	mu         sync.Mutex
	c          *clientConn
	reconnects int
	retired    SessionStats // counters of the connections replaced so far
}

// newSession dials the first connection.
func newSession(ctx context.Context, dial dialFunc, cfg sessionConfig) (*Session, error) {
	if cfg.RetryFor == 0 {
		cfg.RetryFor = 2 * time.Minute
	}
	table := NewTable()
	c, err := dial(ctx, table)
	if err != nil {
		return nil, err
	}
	return &Session{dial: dial, cfg: cfg, table: table, c: c}, nil
}

// Transfers is the table of live transfers (it outlives reconnects).
func (s *Session) Transfers() *Table { return s.table }

// live returns the current connection.
func (s *Session) live() *clientConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c
}

// Reconnects counts the connections dialled after the first.
func (s *Session) Reconnects() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reconnects
}

// Close ends the session with no error.
func (s *Session) Close() error { return s.CloseWithCode(CodeOK, "") }

// CloseWithCode ends the session with code.
func (s *Session) CloseWithCode(code ErrorCode, msg string) error {
	return s.live().CloseWithCode(code, msg)
}

// current returns a live client, reconnecting first if needed.
func (s *Session) current(ctx context.Context) (*clientConn, error) {
	c := s.live()
	if !c.lost() {
		return c, nil
	}
	return s.reconnect(ctx, c)
}

// isAuthError reports errors that retrying cannot fix.
func isAuthError(err error) bool {
	var me *certs.MismatchError
	var ue *UnauthorizedError
	return errors.As(err, &me) || errors.As(err, &ue)
}

// reconnect replaces a dead client.
func (s *Session) reconnect(ctx context.Context, old *clientConn) (*clientConn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c != old && !s.c.lost() {
		return s.c, nil // another caller reconnected meanwhile
	}
	cause := s.c.Err()
	if cause == nil {
		cause = context.Cause(s.c.conn.Context())
	}
	s.c.CloseWithCode(CodeOK, "")
	if s.cfg.RetryFor < 0 {
		return nil, fmt.Errorf("%w: %w", ErrSessionLost, cause)
	}
	lostAt := time.Now()
	deadline := lostAt.Add(s.cfg.RetryFor)
	delay := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		s.event(Event{Kind: EventReconnecting, Attempt: attempt, Err: cause})
		s.notice(zerolog.WarnLevel).Int("attempt", attempt).AnErr("cause", cause).Msg("connection lost; reconnecting")
		// A short attempt: a handshake started while the server was
		// down retransmits its Initial with exponential backoff, so a
		// fresh attempt reaches a server that came back sooner.
		dctx, cancel := context.WithDeadline(ctx, minTime(deadline, time.Now().Add(dialAttempt)))
		c, err := s.dial(dctx, s.table)
		cancel()
		if err == nil {
			s.retire(s.c)
			s.c = c
			s.reconnects++
			s.event(Event{Kind: EventReconnected, Delay: time.Since(lostAt)})
			s.notice(zerolog.InfoLevel).Dur("after", time.Since(lostAt)).Msg("reconnected; resuming transfers")
			return c, nil
		}
		cause = err
		switch {
		case isAuthError(err):
			return nil, err
		case ctx.Err() != nil:
			return nil, xfer.CtxError(ctx)
		case !time.Now().Before(deadline):
			return nil, fmt.Errorf("%w: gave up reconnecting after %s: %w", ErrSessionLost, s.cfg.RetryFor.Round(time.Second), err)
		}
		// Exponential backoff with jitter in [delay/2, 3*delay/2).
		wait := delay/2 + rand.N(delay)
		if rem := time.Until(deadline); wait > rem {
			wait = rem
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, xfer.CtxError(ctx)
		case <-t.C:
		}
		delay = min(2*delay, 10*time.Second)
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// notice logs a connection event at lvl, or at debug level when OnEvent
// already tells the user about it: each notice is said once (a CLI whose
// stderr is not a terminal printed every reconnect twice, as a line of
// its own and as a JSON log line).
func (s *Session) notice(lvl zerolog.Level) *zerolog.Event {
	if s.cfg.OnEvent != nil {
		lvl = zerolog.DebugLevel
	}
	return s.cfg.Logger.WithLevel(lvl)
}

func (s *Session) event(e Event) {
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(e)
	}
}

// do runs a request, reconnecting and retrying once if the connection was
// lost under it.
func (s *Session) do(ctx context.Context, f func(c *clientConn) error) error {
	c, err := s.current(ctx)
	if err != nil {
		return err
	}
	err = f(c)
	if err != nil && c.lost() && !xfer.IsVerdict(err) && ctx.Err() == nil {
		if c, err = s.reconnect(ctx, c); err != nil {
			return err
		}
		err = f(c)
	}
	return err
}

// batch runs f, one batch of transfers, on the current connection; if
// the connection is lost before the batch is under way (f fails), once
// more after a reconnect. Push and pull alike: the jobs themselves
// survive reconnects through the Session as f's runner.
func (s *Session) batch(ctx context.Context, f batchFunc) (*Report, error) {
	var rep *Report
	err := s.do(ctx, func(c *clientConn) error {
		var err error
		rep, err = f.run(ctx, c, s)
		return err
	})
	return rep, err
}

// Push uploads local files (and, with opts.Recursive, directory trees) into
// the remote directory remoteDir, which is created if missing. A source
// directory "dir" lands as remoteDir/dir, as with scp -r. Per-file outcomes
// are in the report; the error is non-nil only when the batch could not
// run at all. Transfers cut off by a lost connection resume on the next
// one.
func (s *Session) Push(ctx context.Context, sources []string, remoteDir string, opts Options) (*Report, error) {
	return s.batch(ctx, push(sources, remoteDir, opts))
}

// PushFile uploads one local source to exactly remotePath, the way cp
// and scp write a single source under the target's name (the shell's
// "put LOCAL REMOTE", and push when the target is not a directory): a
// regular file becomes the file remotePath, a directory (with
// opts.Recursive) becomes the directory remotePath, holding the
// directory's contents. Parent directories are created.
func (s *Session) PushFile(ctx context.Context, local, remotePath string, opts Options) (*Report, error) {
	return s.batch(ctx, pushFile(local, remotePath, opts))
}

// Pull downloads remote files (and, with opts.Recursive, directory trees)
// into the local directory localDir, created if missing. Every write goes
// through an os.Root on localDir, so a server cannot place a file outside
// it whatever names it sends. Per-file outcomes are in the report;
// transfers cut off by a lost connection resume on the next one.
func (s *Session) Pull(ctx context.Context, sources []string, localDir string, opts Options) (*Report, error) {
	return s.batch(ctx, pull(sources, localDir, "", opts))
}

// PullFile downloads one remote source to exactly localPath, the way cp
// and scp write a single source under the target's name (the shell's
// "get REMOTE LOCAL", and pull when the target is not a directory): a
// regular file becomes the file localPath, a directory (with
// opts.Recursive) becomes the directory localPath, holding the remote
// directory's contents. The parent directories of localPath are created;
// every write goes through an os.Root on the parent.
func (s *Session) PullFile(ctx context.Context, remotePath, localPath string, opts Options) (*Report, error) {
	dir, name := splitLocal(localPath)
	return s.batch(ctx, pull([]string{remotePath}, dir, name, opts))
}

// List lists a remote directory (or describes a single file).
func (s *Session) List(ctx context.Context, p string) (ents []Entry, err error) {
	err = s.do(ctx, func(c *clientConn) error { ents, err = c.List(ctx, p); return err })
	return ents, err
}

// Stat describes one remote path.
func (s *Session) Stat(ctx context.Context, p string) (e Entry, err error) {
	err = s.do(ctx, func(c *clientConn) error { e, err = c.Stat(ctx, p); return err })
	return e, err
}

// Mkdir creates a remote directory and its parents.
func (s *Session) Mkdir(ctx context.Context, p string) error {
	return s.do(ctx, func(c *clientConn) error { return c.Mkdir(ctx, p) })
}

// run runs jobs to the end, reconnecting as often as needed (within
// RetryFor each time).
func (s *Session) run(ctx context.Context, jobs []*job, opts Options, pull bool) {
	opts.plan(jobs)
	s.runFrom(ctx, &sliceJobs{jobs}, opts, pull)
}

// runFrom runs the jobs of src to the end, as run does.
func (s *Session) runFrom(ctx context.Context, src jobSource, opts Options, pull bool) {
	pending := &retryJobs{rest: src}
	for {
		j := pending.next()
		if j == nil {
			return // nothing left: no reconnect for nothing
		}
		pending.lost = append([]*job{j}, pending.lost...)
		c, err := s.current(ctx)
		if err != nil {
			for j := pending.next(); j != nil; j = pending.next() {
				endJob(j, err, opts, s.cfg.Logger)
			}
			return
		}
		pending.lost = append(pending.lost, c.runJobs(ctx, pending, opts, pull)...)
	}
}

package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/semaphore"

	"github.com/qxfer/qxfer/session/internal/xfer"
)

// Options tune Push and Pull. The zero value pushes or pulls single files
// with the default parallelism.
type Options struct {
	// Recursive descends into directories.
	Recursive bool
	// Links is what a tree's symbolic links become; see Links. Default:
	// links to files are followed, links to directories skipped.
	Links Links
	// Force replaces destination files that exist and differ.
	Force bool
	// Parallel is how many files move bytes at once. Default 8. Files of
	// at most smallFile bytes are pipelined beyond it: their cost is round
	// trips, not bandwidth.
	Parallel int
	// NoResume starts every file at offset 0, replacing partial files.
	NoResume bool
	// WholeFile sends a file that replaces a differing destination
	// whole, as rsync's -W does. Default false: with Force, such a file
	// is sent by delta (only the chunks the destination lacks; see
	// PROTOCOL.md, "Delta").
	WholeFile bool
	// Observer, if set, is called when each transfer starts and when it
	// ends, from the transfer's goroutine.
	Observer func(TransferInfo)
	// Plan, if set, is called once with every file of the batch (those
	// that failed before starting included), before the first one starts.
	Plan func(files []TransferInfo)
	// Found, if set, is called instead of Plan by a batch streamed from a
	// tree walk (one of more than streamAhead, 4096, files; see
	// client_stream.go): with each group of files as the walk finds them,
	// before any of them starts, more true while the walk goes on and
	// false on the last call (files may then be empty). The batch's
	// totals are known only then.
	Found func(files []TransferInfo, more bool)
	// RateLimit, if set, caps the rate of the file bytes the batch moves,
	// shared by all its streams (and by other batches given the same
	// limiter). Pushed bytes are paced as they are packed into packets;
	// pulled bytes as they are read, which slows the server through flow
	// control. Default: no limit.
	RateLimit *RateLimiter

	// dest is a push batch's listings of its destination directories
	// (destState), set by the push itself; nil outside a push.
	dest *destStates
	// feed, if set, takes the jobs of a streamed pull's walk
	// (walkRemoteStream).
	feed *walkFeed
	// tally, if set, keeps the outcome of a streamed batch's files as
	// they end (client_stream.go).
	tally *tally
	// Filter, if set, leaves entries of a walked tree out of the batch
	// (--include, --exclude): the side that walks applies it, the client
	// in both directions, and an excluded directory is not walked.
	// Sources named in the call are never filtered. Default: nothing is
	// left out.
	Filter *Filter
	// DryRun lists what the batch would do, in Report.Actions, and does
	// nothing: no file, .part, directory or link is written and nothing
	// is deleted, on either side. Files that would fail end Failed with
	// the reason, the others Skipped, so Report.Err is what the real
	// run's would be. See client_dryrun.go.
	DryRun bool
	// Delete, for a tree (Recursive), removes from the destination
	// directory what the source tree does not hold, once every file of
	// the batch has arrived (a batch with a failure deletes nothing).
	// Entries the Filter excludes are kept unless DeleteExcluded. It
	// implies Force: what differs is replaced. See client_delete.go.
	Delete bool
	// DeleteExcluded makes Delete remove excluded entries too.
	DeleteExcluded bool
	// MaxDelete, when positive, caps Delete: a batch that would delete
	// more entries (files, links and directories, each counted) deletes
	// none and fails with ErrMaxDelete. Default: no cap.
	MaxDelete int
	// Update skips files whose destination has a later modification
	// time than the source (rsync -u).
	Update bool
	// Checksum compares a file with a destination of the same size by
	// the SHA-256 of their contents (the server's through a Checksum
	// request) rather than by size and modification time: the same
	// content is up to date whatever the times, another content differs
	// whatever the times (rsync -c). A server that predates the request
	// fails those files with ErrUnsupported.
	Checksum bool
}

// plan reports the jobs of a batch to Options.Plan.
func (o Options) plan(jobs []*job) {
	if o.Plan == nil {
		return
	}
	files := make([]TransferInfo, len(jobs))
	for i, j := range jobs {
		files[i] = j.t.Info()
	}
	o.Plan(files)
}

// smallFile is the size up to which a file does not count against
// Options.Parallel.
const smallFile = 256 << 10

// maxSmallInFlight bounds the small files (pushed or pulled) moving bytes
// at once, beyond Options.Parallel: their cost is round trips.
const maxSmallInFlight = 128

func (o Options) parallel() int {
	if o.Parallel <= 0 {
		return 8
	}
	return o.Parallel
}

// Report is the outcome of a Push or Pull: one entry per file, in the
// order the files were found. A batch streamed from a tree walk (more than
// 4,096 files) lists only its first 1,000 files to end and its first
// 1,000 failures, in the order they ended, and counts the others
// (Omitted); Count, Bytes, Len and Err always cover every file.
type Report struct {
	Files    []TransferInfo
	Duration time.Duration
	// DryRun says the batch only planned (Options.DryRun): Actions lists
	// every entry and nothing was written.
	DryRun bool
	// Actions is a dry run's listing, in the order the files were found,
	// deletions last; in a real run, the entries Options.Delete removed.
	Actions []Action
	// DeleteErr says why Options.Delete deleted nothing although it had
	// entries to delete (ErrMaxDelete), or is nil.
	DeleteErr error
	// rest counts the files Files does not list.
	rest omitted
}

// Len returns how many files the batch had: those of Files and those
// omitted.
func (r *Report) Len() int { return len(r.Files) + r.rest.files }

// Omitted returns how many files of the batch Files does not list (a
// streamed batch's; see Report).
func (r *Report) Omitted() int { return r.rest.files }

// PartialBytes is the number of file bytes moved by files that did not
// finish (failed or cancelled: kept in .part files to resume from).
func (r *Report) PartialBytes() int64 {
	n := r.rest.partial
	for _, f := range r.Files {
		if f.State == Failed || f.State == Cancelled {
			n += f.Bytes
		}
	}
	return n
}

// Count returns how many files ended in state s.
func (r *Report) Count(s State) int {
	n := 0
	if int(s) < len(r.rest.states) {
		n = r.rest.states[s]
	}
	for _, f := range r.Files {
		if f.State == s {
			n++
		}
	}
	return n
}

// Bytes is the number of file bytes moved.
func (r *Report) Bytes() int64 {
	n := r.rest.bytes
	for _, f := range r.Files {
		n += f.Bytes
	}
	return n
}

// Err summarises failed and cancelled files, or is nil when every file is
// done or up to date.
func (r *Report) Err() error {
	failed, cancelled := r.Count(Failed), r.Count(Cancelled)
	if failed+cancelled == 0 {
		return r.DeleteErr
	}
	var names []string
	for _, f := range r.Files {
		if f.State == Failed || f.State == Cancelled {
			// A push names the local file, the one the user listed.
			name := f.Path
			if f.Dir == Push && f.Local != "" {
				name = f.Local
			}
			names = append(names, name)
		}
	}
	if len(names) > 5 {
		names = append(names[:5], "...")
	}
	return &BatchError{Failed: failed, Cancelled: cancelled, Interrupted: r.interrupted(), names: names}
}

func (r *Report) interrupted() bool {
	for _, f := range r.Files {
		if errors.Is(f.Err, ErrInterrupted) {
			return true
		}
	}
	return false
}

// BatchError says that some files of a Push or Pull did not arrive.
type BatchError struct {
	Failed, Cancelled int
	Interrupted       bool // the batch was interrupted (Ctrl-C)
	names             []string
}

func (e *BatchError) Error() string {
	what := fmt.Sprintf("%d failed, %d cancelled", e.Failed, e.Cancelled)
	if e.Interrupted {
		what = "interrupted: " + what
	}
	return what + ": " + strings.Join(e.names, ", ")
}

// job is one file of a batch. Its Transfer lives across reconnects: a job
// whose connection died is run again on the next one, from its resume
// offset.
type job struct {
	t   *Transfer
	key string // transfer table key: the destination (remote path of a push, absolute local path of a pull)
	src string // the source as listed (local path of a push, remote path of a pull), for dedupe
	// srcID identifies a local source, so that one file listed under
	// two names is found to be one (dedupe); zero for a remote one.
	srcID fileID
	small bool
	// quick says the job pushes a regular file that run would find up
	// to date when its directory's listing shows key with meta's size
	// and mtime: runJobs then ends it at once if that listing is at
	// hand (destStates.upToDateNow), without a goroutine, a context or
	// a table entry. A bool, not a closure: TestPushWalkMemory counts
	// the bytes a job holds.
	quick  bool
	run    func(ctx context.Context, c *clientConn, t *Transfer, s *slot) error
	preErr error // failed before it could start (missing source...)
	tries  int
	// meta is the source's size and mtime as walked, for a dry run and
	// Options.Update to compare with the destination; zero for a link.
	meta xfer.FileMeta
	// link says the job copies a symbolic link (-l); target is its
	// target when known (a push's local link).
	link   bool
	target string
	// content is what Options.Checksum found comparing the source's
	// content with the destination's.
	content contentMatch
}

// slot is a job's permission to move bytes. A push takes it after the
// server's Accept and gives it back as soon as its bytes are written, so
// the next file's bytes follow at once while the previous file's verdict
// is on its way; a pull holds it from the request to the verdict, because a
// pulled stream that nobody reads would hold connection flow-control credit
// that the others need.
type slot struct {
	sem  chan struct{}
	held bool
	// budget, if set, is the byte budget of the buffers of small files
	// moving at once (smallBudget); a small file takes cost bytes of it
	// with its slot.
	budget *semaphore.Weighted
	cost   int64
}

func (s *slot) acquire(ctx context.Context) error {
	if s.held {
		return nil
	}
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return xfer.CtxError(ctx)
	}
	if s.budget != nil {
		if err := s.budget.Acquire(ctx, s.cost); err != nil {
			<-s.sem
			return xfer.CtxError(ctx)
		}
	}
	s.held = true
	return nil
}

func (s *slot) release() {
	if s.held {
		s.held = false
		if s.budget != nil {
			s.budget.Release(s.cost)
		}
		<-s.sem
	}
}

// runJobs runs a batch on one connection and returns the jobs that were
// cut off by the connection dying (not finished: the caller may run them
// again after reconnecting). At most Welcome.MaxTransfers jobs are in
// flight, so the server never refuses one for being over its limit; up to
// Options.Parallel of them move bytes at once.
//
// It takes jobs from src until src is empty or the connection is lost:
// the jobs src still holds then are the caller's.
func (c *clientConn) runJobs(ctx context.Context, src jobSource, opts Options, pull bool) []*job {
	inflight := make(chan struct{}, max(1, min(int(c.welcome.MaxTransfers), maxPipelined)))
	slots := make(chan struct{}, opts.parallel())
	small := make(chan struct{}, max(opts.parallel(), maxSmallInFlight))
	budget := semaphore.NewWeighted(smallBudget)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		lost []*job
	)
	var la *listAhead
	if !pull && opts.dest != nil {
		la = &listAhead{src: src, list: func(j *job) { opts.dest.listDirOf(ctx, c, j, wg.Go) }}
		src = la
	}
	start := func(j *job, s *slot) {
		wg.Go(func() {
			defer func() { <-inflight }()
			defer s.release()
			if c.runJob(ctx, j, opts, s) {
				mu.Lock()
				lost = append(lost, j)
				mu.Unlock()
			}
		})
	}
	// waiting holds, in order, the push jobs that may be found up to
	// date (job.quick): one goroutine waits for each one's listing in
	// turn (upToDateWait: at once when its directory is not listed),
	// ends the jobs it shows up to date and starts the others (issue
	// 17: a goroutine per job cost a no-op push of the kernel tree
	// 86,629 goroutines that only waited). It holds at most the jobs in
	// flight, whose slots they keep, so sending to it never blocks.
	type waitingJob struct {
		j *job
		s *slot
	}
	var waiting chan waitingJob
	if la != nil {
		waiting = make(chan waitingJob, cap(inflight))
		wg.Go(func() {
			for w := range waiting {
				if opts.dest.upToDateWait(ctx, w.j.key, w.j.meta) {
					<-inflight
					c.end(w.j, xfer.UpToDate(w.j.key), opts)
					continue
				}
				start(w.j, w.s)
			}
		})
	}
	for !c.lost() {
		j := src.next()
		if j == nil {
			break
		}
		if j.preErr != nil {
			c.end(j, j.preErr, opts)
			continue
		}
		if j.quick && !pull && opts.dest.upToDateNow(j.key, j.meta) {
			// Issue 17: on a no-op push of the kernel tree the
			// client spent 2.7 CPU-s (rsync's 0.6) running 86,680
			// jobs that each found their listing up to date.
			c.end(j, xfer.UpToDate(j.key), opts)
			continue
		}
		s := &slot{sem: slots}
		if j.small {
			s.sem = small
			s.budget, s.cost = budget, min(xfer.ChunkFor(j.meta.Size), smallBudget)
		}
		if err := acquireCtx(ctx, inflight); err != nil {
			c.end(j, err, opts)
			continue
		}
		if pull {
			if err := s.acquire(ctx); err != nil {
				<-inflight
				c.end(j, err, opts)
				continue
			}
		}
		if j.quick && waiting != nil {
			waiting <- waitingJob{j, s}
			continue
		}
		start(j, s)
	}
	if waiting != nil {
		close(waiting)
	}
	wg.Wait()
	if la != nil {
		lost = append(lost, la.left()...) // taken ahead, never started
	}
	return lost
}

func acquireCtx(ctx context.Context, sem chan struct{}) error {
	select {
	case sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return xfer.CtxError(ctx)
	}
}

// maxTries bounds how often one file is run again after losing its
// connection, so a file that brings the connection down every time (a
// crashing server, say) fails instead of looping for ever.
const maxTries = 8

// runJob runs one job under its own cancellable context, registered in
// the transfer table. It reports whether the job was cut off by the
// connection dying, in which case it has not been finished.
func (c *clientConn) runJob(ctx context.Context, j *job, opts Options, s *slot) (lost bool) {
	tctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	j.t.setCancel(cancel)
	if err := c.table.add(j.t, j.key); err != nil {
		c.end(j, err, opts)
		return false
	}
	defer c.table.remove(j.t, j.key)
	j.tries++
	if j.tries == 1 && opts.Observer != nil {
		opts.Observer(j.t.Info())
	}
	err := j.run(tctx, c, j.t, s)
	if err != nil && ctx.Err() == nil && c.lost() && !xfer.IsVerdict(err) && j.tries < maxTries {
		j.t.setQueued()
		return true
	}
	if j.tries > 1 && errors.Is(err, &Error{Code: CodeUpToDate}) {
		// The previous connection died after the file was complete
		// but before its verdict arrived: it is done, not skipped.
		err = nil
	}
	c.end(j, err, opts)
	return false
}

// end records a job's final state and reports it.
func (c *clientConn) end(j *job, err error, opts Options) { endJob(j, err, opts, c.log) }

// endJob records a job's final state and reports it to the observer. An
// ended job is never run again: what only running it needs (its closure,
// the source's identity) is let go, so that a batch of many files holds
// little more than its Transfers until the report.
func endJob(j *job, err error, opts Options, log zerolog.Logger) {
	j.run, j.srcID = nil, fileID{}
	var e *Error
	if err != nil {
		e = xfer.AsError(err, j.t.Path)
	}
	var ferr error
	if e != nil && e.Code != CodeUpToDate {
		ferr = e
	}
	if j.t.finish(stateFor(errOrNil(e)), ferr) {
		if opts.Observer != nil {
			opts.Observer(j.t.Info())
		}
		if opts.tally != nil {
			opts.tally.add(j)
		}
	}
	if ferr != nil {
		log.Debug().Uint64("id", j.t.ID).Str("path", j.t.Path).Stringer("code", e.Code).Str("msg", e.Msg).Msg("transfer failed")
	}
}

// batchContext turns the end of ctx (Ctrl-C) into CodeInterrupted for
// every transfer of a batch. The batch context is detached from ctx's own
// cancellation (whose cause, such as signal.NotifyContext's, would
// otherwise reach the transfers first) and cancelled only with that code.
func batchContext(ctx context.Context) (context.Context, func()) {
	bctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		cancel(&Error{Code: CodeInterrupted})
	})
	return bctx, func() {
		stop()
		cancel(nil)
	}
}

// batchFunc builds and runs one batch of transfers (a Push, Pull,
// PushFile or PullFile) on the connection c, handing its jobs to r, in
// the batch context ctx; start is when the batch began, for its report.
type batchFunc func(ctx context.Context, c *clientConn, r runner, start time.Time) (*Report, error)

// run runs f on c with r from now, in a batch context (batchContext).
func (f batchFunc) run(ctx context.Context, c *clientConn, r runner) (*Report, error) {
	start := time.Now()
	ctx, done := batchContext(ctx)
	defer done()
	return f(ctx, c, r, start)
}

// runner runs the jobs of a batch: a clientConn once, a Session across
// reconnects.
type runner interface {
	run(ctx context.Context, jobs []*job, opts Options, pull bool)
	// runFrom runs the jobs of src, without Options.Plan.
	runFrom(ctx context.Context, src jobSource, opts Options, pull bool)
	Mkdir(ctx context.Context, p string) error
	dirMetas(ctx context.Context, dirs []dirMeta) ([]error, error)
}

// run runs jobs on this one connection; jobs cut off by its loss fail.
func (c *clientConn) run(ctx context.Context, jobs []*job, opts Options, pull bool) {
	opts.plan(jobs)
	c.runFrom(ctx, &sliceJobs{jobs}, opts, pull)
}

// runFrom runs the jobs of src on this one connection; jobs cut off by
// its loss, and those src still holds then, fail.
func (c *clientConn) runFrom(ctx context.Context, src jobSource, opts Options, pull bool) {
	lost := c.runJobs(ctx, src, opts, pull)
	err := c.Err()
	if err == nil {
		err = ErrSessionLost
	}
	for _, j := range lost {
		c.end(j, err, opts)
	}
	for j := src.next(); j != nil; j = src.next() {
		c.end(j, err, opts)
	}
}

// errOrNil avoids a typed nil in an error interface.
func errOrNil(e *Error) error {
	if e == nil {
		return nil
	}
	return e
}

// report collects the final state of every job.
func report(jobs []*job, start time.Time) *Report {
	r := &Report{Duration: time.Since(start), Files: make([]TransferInfo, 0, len(jobs))}
	for _, j := range jobs {
		r.Files = append(r.Files, j.t.Info())
	}
	return r
}

// maxPipelined bounds the jobs of a batch in flight at once on one
// connection: offered, accepted and waiting for a slot, or moving bytes
// (also within the server's Welcome.MaxTransfers). Each holds a goroutine
// and a few KB while it waits: 1,024 of them were some 11 MB of a kernel
// tree push's client (issue 17: at most 64 MB, bounded by the work in
// flight), and 512 still cover the offers of tiny files over a round trip
// of 50 ms at 200 Mbit/s.
const maxPipelined = 512

// smallBudget bounds the buffer bytes (xfer.ChunkFor of each file's size)
// of the small files moving at once, within maxSmallInFlight: 128 files of
// up to 16 KiB move together, but only 16 of 256 KiB. The kernel tree's
// 15,600 files of 16-256 KiB held 8.6 MB of buffers without it.
const smallBudget = 4 << 20

// MemoryBudget is the memory, in bytes, that one push or pull batch is
// meant to need on the client when parallel files move at once over
// conns connections (Options.Parallel; PoolConfig.Size, or Max with
// Auto): a base of 32 MiB for the runtime, the walk, the queue and one
// connection (the Linux kernel tree's push holds about 25 MB live at its
// peak), plus, for each connection, the small files' shared buffers
// (smallBudget) and two xfer.ChunkSize buffers read ahead for each
// parallel file. It is for the Go runtime's soft memory limit
// (runtime/debug.SetMemoryLimit): with the collector's default headroom
// alone the heap doubles its live size, and the kernel tree's push peaked
// at 76 MB of RSS (issue 17: at most 64 MB, bounded by the work in
// flight, not by the tree). A limit is soft: a heap that needs more gets
// it, at the price of more frequent collections.
func MemoryBudget(parallel, conns int) int64 {
	perConn := int64(smallBudget) + int64(max(parallel, 1))*2*xfer.ChunkSize
	return 32<<20 + int64(max(conns, 1))*perConn
}

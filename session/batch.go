package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Options tune Push and Pull. The zero value pushes or pulls single files
// with the default parallelism.
type Options struct {
	// Recursive descends into directories.
	Recursive bool
	// Force replaces destination files that exist and differ.
	Force bool
	// Parallel is how many files move bytes at once. Default 8. Files of
	// at most smallFile bytes are pipelined beyond it: their cost is round
	// trips, not bandwidth.
	Parallel int
	// Observer, if set, is called when each transfer starts and when it
	// ends, from the transfer's goroutine.
	Observer func(TransferInfo)
}

// smallFile is the size up to which a file does not count against
// Options.Parallel.
const smallFile = 256 << 10

// maxSmallInFlight bounds the small files pulled at once.
const maxSmallInFlight = 32

func (o Options) parallel() int {
	if o.Parallel <= 0 {
		return 8
	}
	return o.Parallel
}

// Report is the outcome of a Push or Pull: one entry per file, in the
// order the files were found.
type Report struct {
	Files    []TransferInfo
	Duration time.Duration
}

// Count returns how many files ended in state s.
func (r *Report) Count(s State) int {
	n := 0
	for _, f := range r.Files {
		if f.State == s {
			n++
		}
	}
	return n
}

// Bytes is the number of file bytes moved.
func (r *Report) Bytes() int64 {
	var n int64
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
		return nil
	}
	var names []string
	for _, f := range r.Files {
		if f.State == Failed || f.State == Cancelled {
			names = append(names, f.Path)
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

// job is one file of a batch.
type job struct {
	t      *Transfer
	key    string // transfer table key
	small  bool
	run    func(ctx context.Context, t *Transfer, sent func()) error
	preErr error // failed before it could start (missing source...)
}

// runJobs runs a batch. Up to parallel jobs move bytes at once; a push
// frees its slot as soon as its bytes are written, so the next file starts
// while the previous one's verdict is on its way. At most
// Welcome.MaxTransfers jobs are in flight, so the server never refuses one
// for being over its limit.
func (c *Client) runJobs(ctx context.Context, jobs []*job, opts Options, holdUntilDone bool) *Report {
	start := time.Now()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(ctx, func() {
		cancel(&Error{Code: CodeInterrupted, Msg: "interrupted"})
	})
	defer stop()
	inflight := make(chan struct{}, max(1, min(int(c.welcome.MaxTransfers), 1024)))
	slots := make(chan struct{}, opts.parallel())
	small := make(chan struct{}, max(opts.parallel(), maxSmallInFlight))
	var wg sync.WaitGroup
	for _, j := range jobs {
		if j.preErr != nil {
			c.end(j, j.preErr, opts)
			continue
		}
		sem := slots
		if j.small && holdUntilDone {
			sem = small
		}
		if !acquire(ctx, inflight) || !acquire(ctx, sem) {
			c.end(j, ctxError(ctx), opts)
			continue
		}
		wg.Go(func() {
			defer func() { <-inflight }()
			release := sync.OnceFunc(func() { <-sem })
			defer release()
			sent := release
			if holdUntilDone {
				sent = func() {}
			}
			c.runJob(ctx, j, opts, sent)
		})
	}
	wg.Wait()
	r := &Report{Duration: time.Since(start)}
	for _, j := range jobs {
		r.Files = append(r.Files, j.t.Info())
	}
	return r
}

func acquire(ctx context.Context, sem chan struct{}) bool {
	select {
	case sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// runJob runs one job under its own cancellable context, registered in
// the client's transfer table.
func (c *Client) runJob(ctx context.Context, j *job, opts Options, sent func()) {
	tctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	j.t.cancel = cancel
	if err := c.table.add(j.t, j.key); err != nil {
		c.end(j, err, opts)
		return
	}
	defer c.table.remove(j.t, j.key)
	if opts.Observer != nil {
		opts.Observer(j.t.Info())
	}
	err := j.run(tctx, j.t, sent)
	c.end(j, err, opts)
}

// end records a job's final state and reports it.
func (c *Client) end(j *job, err error, opts Options) {
	var e *Error
	if err != nil {
		e = asError(err, j.t.Path)
	}
	var ferr error
	if e != nil && e.Code != CodeUpToDate {
		ferr = e
	}
	if j.t.finish(stateFor(errOrNil(e)), ferr) && opts.Observer != nil {
		opts.Observer(j.t.Info())
	}
	if e != nil && e.Code != CodeUpToDate {
		c.log.Debug().Uint64("id", j.t.ID).Str("path", j.t.Path).Stringer("code", e.Code).Str("msg", e.Msg).Msg("transfer failed")
	}
}

// errOrNil avoids a typed nil in an error interface.
func errOrNil(e *Error) error {
	if e == nil {
		return nil
	}
	return e
}

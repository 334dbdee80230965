package main

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/qxfer/qxfer/session"
)

// job is one put or get command: it exists, with the next id, from the
// moment the command is read, and is "queued" until its bytes move. Its
// files are the session's transfers, reported through its observer.
type job struct {
	id    int
	dir   session.Direction
	name  string // the source as the user wrote it
	start time.Time

	// The shell's mu guards the following fields.
	files     map[uint64]session.TransferInfo // last seen, by transfer id
	planned   int64                           // bytes of the files planned
	ended     bool                            // the command has returned
	end       time.Time
	err       error // the command's own failure, before or besides its files
	cancelled bool  // cancel was asked for: files starting later are cancelled at once
}

// newJob registers a job for a command being read, with the next id.
func (sh *shell) newJob(dir session.Direction, name string) *job {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.lastJob++
	j := &job{id: sh.lastJob, dir: dir, name: name, start: time.Now(), files: map[uint64]session.TransferInfo{}}
	sh.jobs = append(sh.jobs, j)
	return j
}

// options returns the transfer options of job j: the shell's, reporting
// its files to j.
func (sh *shell) options(j *job) session.Options {
	o := sh.opts
	o.Observer = func(ti session.TransferInfo) { sh.observe(j, ti) }
	o.Plan = func(files []session.TransferInfo) {
		sh.mu.Lock()
		defer sh.mu.Unlock()
		for _, f := range files {
			j.planned += max(f.Size, 0)
		}
	}
	o.Found = func(files []session.TransferInfo, _ bool) { o.Plan(files) }
	return o
}

// background runs the transfer command of job j in a goroutine owned by
// the shell.
func (sh *shell) background(j *job, run func(opts session.Options) (*session.Report, error)) {
	opts := sh.options(j)
	sh.wg.Go(func() {
		_, err := run(opts)
		sh.finishJob(j, err)
	})
}

// finishJob records that job j's command has returned, with err if it
// failed as a whole (per-file outcomes arrive through observe).
func (sh *shell) finishJob(j *job, err error) {
	sh.mu.Lock()
	j.ended, j.end, j.err = true, time.Now(), err
	if err != nil {
		sh.failed++
	}
	sh.mu.Unlock()
	if err != nil {
		fmt.Fprintf(sh.errw, "qxfer: %s\n", printable(errMessage(err)))
	}
}

// observe records a file of job j as it starts and ends, and reports
// ends. A file that starts after its job was cancelled is cancelled at
// once.
func (sh *shell) observe(j *job, ti session.TransferInfo) {
	sh.mu.Lock()
	j.files[ti.ID] = ti
	if ti.State == session.Failed || ti.State == session.Cancelled {
		sh.failed++
	}
	cancelled := j.cancelled
	sh.mu.Unlock()
	switch ti.State {
	case session.Done:
		fmt.Fprintf(sh.out, "[%d] done %s %s (%s)\n", j.id, ti.Dir, printable(ti.Path), humanBytes(ti.Bytes))
	case session.Skipped:
		fmt.Fprintf(sh.out, "[%d] up to date %s\n", j.id, printable(ti.Path))
	case session.Failed, session.Cancelled:
		fmt.Fprintf(sh.out, "[%d] %s %s %s\n", j.id, ti.State, ti.Dir, printable(errMessage(ti.Err)))
	default:
		if cancelled {
			sh.c.Transfers().Cancel(ti.ID)
		}
	}
}

// jobRow is what jobs prints of one job.
type jobRow struct {
	id          int
	dir         session.Direction
	name        string
	bytes, size int64
	rate        float64
	state       string
}

// row sums up job j, its live files as the transfer table has them now
// (live maps transfer ids to their snapshot). The shell's mu must be held.
func (j *job) row(live map[uint64]session.TransferInfo) jobRow {
	r := jobRow{id: j.id, dir: j.dir, name: j.name, size: j.planned}
	var moved, size int64
	counts := map[session.State]int{}
	for id, ti := range j.files {
		if l, ok := live[id]; ok && !ti.State.Ended() {
			ti = l
		}
		moved += ti.Bytes
		size += max(ti.Size, 0)
		counts[ti.State]++
	}
	r.bytes, r.size = moved, max(size, j.planned)
	end := time.Now()
	if j.ended {
		end = j.end
	}
	if d := end.Sub(j.start); d > 0 {
		r.rate = float64(moved) / d.Seconds()
	}
	switch {
	case !j.ended && moved == 0 && counts[session.Done] == 0:
		r.state = session.Queued.String()
	case !j.ended:
		r.state = session.Running.String()
	case j.cancelled || counts[session.Cancelled] > 0 || errors.Is(j.err, session.ErrCancelled):
		r.state = session.Cancelled.String()
	case j.err != nil || counts[session.Failed] > 0:
		r.state = session.Failed.String()
	case len(j.files) > 0 && counts[session.Skipped] == len(j.files):
		r.state = session.Skipped.String()
	default:
		r.state = session.Done.String()
	}
	return r
}

// printJobs lists every job of the shell in id order: id, direction, the
// name typed, bytes moved of the total, rate, state.
func (sh *shell) printJobs() {
	live := map[uint64]session.TransferInfo{}
	for _, ti := range sh.c.Transfers().Snapshot() {
		live[ti.ID] = ti
	}
	sh.mu.Lock()
	rows := make([]jobRow, 0, len(sh.jobs))
	for _, j := range sh.jobs {
		rows = append(rows, j.row(live))
	}
	sh.mu.Unlock()
	sort.Slice(rows, func(a, b int) bool { return rows[a].id < rows[b].id })
	// One write, so that a "[ID] done" line of a transfer ending now
	// comes before or after the table, not inside it.
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tDIR\tNAME\tBYTES\tRATE\tSTATE")
	for _, r := range rows {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s/%s\t%s/s\t%s\n", r.id, r.dir, printable(r.name), humanBytes(r.bytes), humanBytes(r.size), humanBytes(int64(r.rate)), r.state)
	}
	tw.Flush()
	sh.out.Write(buf.Bytes())
}

// cancel cancels job ID: its running files now, the others as they start.
func (sh *shell) cancel(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: cancel ID")
	}
	var id int
	if _, err := fmt.Sscan(args[0], &id); err != nil {
		return fmt.Errorf("bad job id %q", args[0])
	}
	sh.mu.Lock()
	var j *job
	for _, x := range sh.jobs {
		if x.id == id {
			j = x
		}
	}
	if j == nil || j.ended {
		sh.mu.Unlock()
		return fmt.Errorf("no running job with id %d (see 'jobs')", id)
	}
	j.cancelled = true
	var ids []uint64
	for tid, ti := range j.files {
		if !ti.State.Ended() {
			ids = append(ids, tid)
		}
	}
	sh.mu.Unlock()
	for _, tid := range ids {
		sh.c.Transfers().Cancel(tid)
	}
	return nil
}

// cancelAll cancels every job (Ctrl-C at the prompt) and returns how many
// were running.
func (sh *shell) cancelAll() int {
	sh.mu.Lock()
	var ids []string
	for _, j := range sh.jobs {
		if !j.ended && !j.cancelled {
			ids = append(ids, fmt.Sprint(j.id))
		}
	}
	sh.mu.Unlock()
	for _, id := range ids {
		sh.cancel([]string{id})
	}
	return len(ids)
}

package session

import (
	"path"
	"sync"
	"time"
)

// streamAhead is how many files a tree walk finds ahead of the transfers:
// the bound of the queue between them (issue 17: a client's memory is
// bounded by the work in flight, not by the tree). A batch of at most
// this many files is walked whole before its first file starts, as it
// always was (Options.Plan sees every file, the report lists every file
// in the order found); a bigger one is streamed: its files start while
// the walk goes on (Options.Found), and only counters remain of a file
// once it has ended. At about 600 bytes a queued file, the queue holds
// some 2.5 MB.
var streamAhead = 4096 // a variable for TestStreamMemory only

// maxReportFiles is how many ended files the report of a streamed batch
// lists (Report.Files) besides its failures; the others are counted.
const maxReportFiles = 1000

// maxReportFailures is how many failed or cancelled files the report of
// a streamed batch lists; the rest are counted (Report.Omitted).
const maxReportFailures = 1000

// jobSource yields the jobs of a batch one at a time: a slice, or the
// queue a tree walk fills.
type jobSource interface {
	// next returns the next job, or nil when there is none left. It
	// blocks while the walk that fills it has found nothing new.
	next() *job
}

// sliceJobs is a jobSource over a slice (which it leaves as it is).
type sliceJobs struct{ jobs []*job }

func (s *sliceJobs) next() *job {
	if len(s.jobs) == 0 {
		return nil
	}
	j := s.jobs[0]
	s.jobs = s.jobs[1:]
	return j
}

// retryJobs yields the jobs cut off by a lost connection, then the rest
// of a source.
type retryJobs struct {
	lost []*job
	rest jobSource
}

func (s *retryJobs) next() *job {
	if len(s.lost) > 0 {
		j := s.lost[0]
		s.lost[0] = nil // let an ended job go
		s.lost = s.lost[1:]
		return j
	}
	return s.rest.next()
}

// walkFeed is the queue between a tree walk (its producer, on its own
// goroutine) and the transfers that consume it. The first streamAhead
// jobs are held back: if the walk ends before finding more, the batch is
// not streamed at all (head, with more false); else head hands them over
// with more true and every later job goes through queue, a flow bounded
// by its capacity: the walk waits while the transfers lag.
type walkFeed struct {
	opts  Options
	head  chan walkHead // one value
	queue chan *job     // closed at the end of a streamed walk
	// held is the producer's: the jobs not handed over yet.
	held      []*job
	streaming bool
}

// walkHead is the first part of a walk: every job when more is false.
type walkHead struct {
	jobs []*job
	more bool
}

func newWalkFeed(opts Options) *walkFeed {
	return &walkFeed{opts: opts, head: make(chan walkHead, 1), queue: make(chan *job, streamAhead)}
}

// foundEvery is how many jobs a streamed walk reports to Options.Found at
// once.
const foundEvery = 256

// add takes one job from the walk. It blocks while the queue is full.
func (f *walkFeed) add(j *job) {
	f.held = append(f.held, j)
	switch {
	case !f.streaming && len(f.held) > streamAhead:
		f.streaming = true
		f.found(f.held, true)
		f.head <- walkHead{jobs: f.held, more: true}
		f.held = nil
	case f.streaming && len(f.held) >= foundEvery:
		f.flush(true)
	}
}

// flush reports the held jobs to Options.Found and queues them.
func (f *walkFeed) flush(more bool) {
	f.found(f.held, more)
	for _, j := range f.held {
		f.queue <- j // the consumer drains the queue whatever happens
	}
	clear(f.held)
	f.held = f.held[:0]
}

func (f *walkFeed) found(jobs []*job, more bool) {
	if f.opts.Found == nil {
		return
	}
	files := make([]TransferInfo, len(jobs))
	for i, j := range jobs {
		files[i] = j.t.Info()
	}
	f.opts.Found(files, more)
}

// end is the walk's last call.
func (f *walkFeed) end() {
	if !f.streaming {
		f.head <- walkHead{jobs: f.held}
		f.held = nil
		close(f.queue)
		return
	}
	f.flush(false)
	close(f.queue)
}

// next yields the queued jobs of a streamed walk (after its head).
func (f *walkFeed) next() *job {
	return <-f.queue // nil once closed and drained
}

// tally keeps the outcome of a streamed batch's files as they end: the
// first maxReportFiles in full, failures up to maxReportFailures, and
// counters for the rest, so that an ended file is let go.
type tally struct {
	// mu guards the following fields.
	mu       sync.Mutex
	kept     []*job
	failures int
	rest     omitted
	// dirs are the directories holding a file that was not up to date
	// (keepChangedDirsOf): at most one entry per directory of the tree.
	dirs map[string]bool
}

// omitted counts the files of a report that Report.Files does not list.
type omitted struct {
	files   int
	states  [Cancelled + 1]int
	bytes   int64
	partial int64 // bytes of failed and cancelled files
}

func (o *omitted) add(ti TransferInfo) {
	o.files++
	if int(ti.State) < len(o.states) {
		o.states[ti.State]++
	}
	o.bytes += ti.Bytes
	if ti.State == Failed || ti.State == Cancelled {
		o.partial += ti.Bytes
	}
}

// add records an ended job.
func (t *tally) add(j *job) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ti := j.t.Info()
	if ti.State != Skipped {
		if t.dirs == nil {
			t.dirs = map[string]bool{}
		}
		t.dirs[path.Dir(j.key)] = true
	}
	failed := ti.State == Failed || ti.State == Cancelled
	switch {
	case failed && t.failures < maxReportFailures:
		t.failures++
		t.kept = append(t.kept, j)
	case !failed && len(t.kept)-t.failures < maxReportFiles:
		t.kept = append(t.kept, j)
	default:
		t.rest.add(ti)
	}
}

// jobs returns the jobs kept in full.
func (t *tally) jobs() []*job {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]*job(nil), t.kept...)
}

// changedDirs returns the directories holding a file that was not up to
// date, in no particular order.
func (t *tally) changedDirs() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.dirs))
	for d := range t.dirs {
		out = append(out, d)
	}
	return out
}

// report is the report of the batch: the kept files and the counters.
func (t *tally) report(start time.Time) *Report {
	r := report(t.jobs(), start)
	t.mu.Lock()
	r.rest = t.rest
	t.mu.Unlock()
	return r
}

package session

import (
	"context"
	"path"
)

// listAheadJobs is how many jobs of a push a batch takes from its source
// ahead of running them, to start the listing of each destination
// directory they go into (destStates) before its first file needs it.
// Without it, the files of each directory that reached the window of
// jobs in flight (maxPipelined) waited a round trip for its listing: at
// 50 ms, 50 ms of the 200 ms each of S4's 2,000 files spent in flight.
// 1,024 jobs cover a round trip of 50 ms at S4's rate (about 2,500 files
// a second) eight times, and at a no-op push's (the kernel tree over
// 50 ms: 256 jobs ahead took 7.7 s, 1,024 took 5.0 s; issue 17). They
// hold at most 1,024 listed directories (a streamed push lists a
// directory of one file too), which with the jobs in flight
// (maxPipelined) stays within maxDestDirs.
const listAheadJobs = 1024

// tryNexter is a jobSource that can say, without blocking, whether it
// has a job now.
type tryNexter interface {
	// tryNext returns the next job and true, or nil and true when the
	// source is empty, or false when it would block.
	tryNext() (*job, bool)
}

func (s *sliceJobs) tryNext() (*job, bool) { return s.next(), true }

func (s *retryJobs) tryNext() (*job, bool) {
	if len(s.lost) > 0 {
		return s.next(), true
	}
	if t, ok := s.rest.(tryNexter); ok {
		return t.tryNext()
	}
	return nil, false
}

func (f *walkFeed) tryNext() (*job, bool) {
	select {
	case j := <-f.queue:
		return j, true
	default:
		return nil, false
	}
}

// listAhead is a push's jobSource over src that takes up to
// listAheadJobs jobs ahead of the one it yields and calls list for each
// as it takes it. It never blocks while it holds a job: a walk slower
// than the transfers gets no lookahead, and loses nothing.
type listAhead struct {
	src   jobSource
	list  func(*job)
	ahead []*job // taken from src, not yielded yet
	ended bool   // src is empty
}

func (l *listAhead) next() *job {
	for !l.ended && len(l.ahead) < listAheadJobs {
		j, ok := l.take()
		if !ok {
			break // src would block: yield what is held
		}
		if j == nil {
			l.ended = true
			break
		}
		l.list(j)
		l.ahead = append(l.ahead, j)
	}
	if len(l.ahead) == 0 {
		return nil
	}
	j := l.ahead[0]
	l.ahead[0] = nil
	l.ahead = l.ahead[1:]
	return j
}

// take returns the next job of src (nil when src is empty) and true,
// blocking only while it holds no job; false when src would block.
func (l *listAhead) take() (*job, bool) {
	if len(l.ahead) == 0 {
		return l.src.next(), true
	}
	if t, ok := l.src.(tryNexter); ok {
		return t.tryNext()
	}
	return nil, false
}

// left returns the jobs taken from src and not yielded: the caller's,
// as the jobs src still holds are, when the batch stops early.
func (l *listAhead) left() []*job {
	out := l.ahead
	l.ahead = nil
	return out
}

// listDirOf starts, on a goroutine spawn owns, the listing of the
// directory push job j goes into, if the batch lists it (destStates.plan,
// planDir) and nobody has started it yet. The listing is claimed here,
// before the goroutine runs, so the directory's other jobs start none.
func (ds *destStates) listDirOf(ctx context.Context, c *clientConn, j *job, spawn func(func())) {
	if ds == nil || j.preErr != nil {
		return
	}
	dir := path.Dir(j.key)
	ds.mu.Lock()
	listed := ds.listed[dir]
	ds.mu.Unlock()
	if !listed {
		return
	}
	if d, parent, mine := ds.claim(dir); mine {
		spawn(func() { ds.fill(ctx, c, dir, d, parent) })
	}
}

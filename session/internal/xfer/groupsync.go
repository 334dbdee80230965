package xfer

import (
	"os"
	"sync"
	"time"
)

// groupSyncWindow is how long the first file of a group commit waits for
// others to join it: a few milliseconds of arrivals of a tree of small
// files share one sync of their file system instead of an fsync each
// (issue 17: one fsync per file was 13% of a receiver's CPU on the Linux
// kernel's tree, and a journal commit each).
const groupSyncWindow = time.Millisecond

// groupSyncMax is the largest file, in bytes, a receiver makes durable
// through a GroupSync: a bigger file's own data dominates its fsync, and
// a sync of the whole file system would also wait for every other file
// being received.
const groupSyncMax = 4 << 20

// GroupSync makes files durable in groups: Sync returns once a sync that
// started after it was called has covered the file (Linux: syncfs(2) of
// each file system the group's files are on, which writes back every
// dirty page there and commits the journal once). A receiver calls it
// where it would call f.Sync(), before it renames the file into place,
// so a crash never leaves a final name on bytes the disk may not hold,
// and the file's Done is only sent after it. Where the system has no
// syncfs, Sync is f.Sync(). It is safe for concurrent use; the zero
// value is ready, and a nil *GroupSync syncs each file alone.
//
// The caller that finds no sync running leads the next group: it waits
// groupSyncWindow for others to join, syncs, wakes them, and hands the
// lead to the first file that came during its sync; no goroutine is
// started.
type GroupSync struct {
	// mu guards the following fields.
	mu      sync.Mutex
	pending []*syncWaiter // files waiting for the next group
	leading bool          // a caller leads a group now
}

type syncWaiter struct {
	f    *os.File
	done chan error    // the group's result (buffered)
	lead chan struct{} // this waiter leads the next group (buffered)
}

// Sync makes f durable with the next group (see GroupSync); the error is
// the sync's, as f.Sync() would return it.
func (g *GroupSync) Sync(f *os.File) error {
	if g == nil || !haveSyncFS {
		return f.Sync()
	}
	w := &syncWaiter{f: f, done: make(chan error, 1), lead: make(chan struct{}, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, w)
	if !g.leading {
		g.leading = true
		w.lead <- struct{}{}
	}
	g.mu.Unlock()
	select {
	case err := <-w.done:
		return err
	case <-w.lead:
	}
	time.Sleep(groupSyncWindow)
	g.mu.Lock()
	batch := g.pending
	g.pending = nil
	g.mu.Unlock()
	syncGroup(batch)
	g.mu.Lock()
	if len(g.pending) > 0 {
		g.pending[0].lead <- struct{}{}
	} else {
		g.leading = false
	}
	g.mu.Unlock()
	return <-w.done
}

package session

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qxfer/qxfer/session/internal/xfer"
)

// Direction says which way a transfer's bytes flow, seen from the client.
type Direction uint8

const (
	// Push sends a file from the client to the server.
	Push Direction = iota + 1
	// Pull sends a file from the server to the client.
	Pull
)

func (d Direction) String() string {
	switch d {
	case Push:
		return "push"
	case Pull:
		return "pull"
	}
	return "unknown"
}

// State is where a transfer is in its life.
type State uint8

// Transfer states. Every transfer ends in exactly one of Done, Skipped,
// Failed or Cancelled.
const (
	Queued State = iota
	Running
	Done
	Skipped // destination already identical
	Failed
	Cancelled
)

var stateNames = [...]string{"queued", "running", "done", "skipped", "failed", "cancelled"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// Ended reports whether s is a final state.
func (s State) Ended() bool { return s >= Done }

// Transfer is one file moving in one direction. Both ends keep their live
// transfers in a Table.
type Transfer struct {
	ID    uint64
	Dir   Direction
	Path  string // remote path, relative to the server root
	Local string // local path (client side only)
	start time.Time
	owner string // server side: fingerprint of the client
	sess  uint64 // server side: the session (connection) it belongs to

	size  atomic.Int64
	bytes atomic.Int64 // body bytes moved so far

	// mu guards the following fields.
	mu     sync.Mutex
	cancel context.CancelCauseFunc
	state  State
	err    error
	end    time.Time
	done   chan struct{} // closed when the transfer ends
}

func newTransfer(id uint64, dir Direction, remote, local string, size int64, cancel context.CancelCauseFunc) *Transfer {
	t := &Transfer{ID: id, Dir: dir, Path: remote, Local: local, cancel: cancel, start: time.Now(), done: make(chan struct{})}
	t.size.Store(size)
	return t
}

// Cancel stops the transfer with CodeCancelled: only its stream is reset;
// the receiver keeps its .part for a later resume.
func (t *Transfer) Cancel() {
	t.cancelWith(&Error{Code: CodeCancelled, Path: t.Path, Msg: "cancelled by user"})
}

func (t *Transfer) cancelWith(e *Error) {
	t.mu.Lock()
	cancel := t.cancel
	t.mu.Unlock()
	if cancel != nil {
		cancel(e)
	}
}

func (t *Transfer) setCancel(c context.CancelCauseFunc) {
	t.mu.Lock()
	t.cancel = c
	t.mu.Unlock()
}

// setQueued puts a transfer cut off by a lost connection back in the
// queue, to be run again after reconnecting.
func (t *Transfer) setQueued() {
	t.mu.Lock()
	if !t.state.Ended() {
		t.state = Queued
	}
	t.mu.Unlock()
}

func (t *Transfer) addBytes(n int) { t.bytes.Add(int64(n)) }

func (t *Transfer) setRunning() {
	t.mu.Lock()
	if t.state == Queued {
		t.state = Running
	}
	t.mu.Unlock()
}

// finish records the final state once; later calls are ignored.
func (t *Transfer) finish(s State, err error) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state.Ended() {
		return false
	}
	t.state, t.err, t.end = s, err, time.Now()
	close(t.done)
	if t.cancel != nil {
		t.cancel(nil)
	}
	return true
}

// Wait blocks until the transfer has ended or ctx is done.
func (t *Transfer) Wait(ctx context.Context) error {
	select {
	case <-t.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TransferInfo is a snapshot of a Transfer.
type TransferInfo struct {
	ID       uint64
	Dir      Direction
	Path     string
	Local    string
	Size     int64
	Bytes    int64
	State    State
	Err      error
	Duration time.Duration
}

// Rate is the average rate in bytes per second.
func (i TransferInfo) Rate() float64 {
	if i.Duration <= 0 {
		return 0
	}
	return float64(i.Bytes) / i.Duration.Seconds()
}

// Info returns a snapshot.
func (t *Transfer) Info() TransferInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	end := t.end
	if end.IsZero() {
		end = time.Now()
	}
	return TransferInfo{
		ID: t.ID, Dir: t.Dir, Path: t.Path, Local: t.Local,
		Size: t.size.Load(), Bytes: t.bytes.Load(),
		State: t.state, Err: t.err, Duration: end.Sub(t.start),
	}
}

type tableKey struct {
	dir  Direction
	path string
}

// Table holds the live transfers, keyed by direction and path, so that two
// writers never share one .part and two identical transfers never run at
// once. It also hands out the local transfer ids users see.
type Table struct {
	ids atomic.Uint64

	// mu guards the following fields.
	mu   sync.Mutex
	live map[tableKey]*Transfer
}

// newID returns the next local transfer id.
func (tb *Table) newID() uint64 { return tb.ids.Add(1) }

// lookup returns the live transfer for a direction and key path.
func (tb *Table) lookup(dir Direction, keyPath string) *Transfer {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return tb.live[tableKey{dir, keyPath}]
}

// NewTable returns an empty table.
func NewTable() *Table { return &Table{live: make(map[tableKey]*Transfer)} }

// add registers t, or fails with CodeBusy if a transfer with the same
// direction and key path is live.
func (tb *Table) add(t *Transfer, keyPath string) error {
	k := tableKey{t.Dir, keyPath}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if _, ok := tb.live[k]; ok {
		return xfer.Errorf(CodeBusy, t.Path, "a %s of this file is already running", t.Dir)
	}
	tb.live[k] = t
	return nil
}

// remove drops t if it is still the live transfer for its key.
func (tb *Table) remove(t *Transfer, keyPath string) {
	k := tableKey{t.Dir, keyPath}
	tb.mu.Lock()
	if tb.live[k] == t {
		delete(tb.live, k)
	}
	tb.mu.Unlock()
}

// withLive runs fn with the key paths of the live transfers of direction
// dir, holding the table's lock: no transfer is added or removed while
// fn runs, so fn must not call the table.
func (tb *Table) withLive(dir Direction, fn func(paths []string)) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	var paths []string
	for k := range tb.live {
		if k.dir == dir {
			paths = append(paths, k.path)
		}
	}
	fn(paths)
}

// Snapshot lists the live transfers, ordered by id.
func (tb *Table) Snapshot() []TransferInfo {
	tb.mu.Lock()
	out := make([]TransferInfo, 0, len(tb.live))
	for _, t := range tb.live {
		out = append(out, t.Info())
	}
	tb.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Len is the number of live transfers.
func (tb *Table) Len() int {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return len(tb.live)
}

// Cancel cancels the live transfer with local id, reporting whether there
// was one.
func (tb *Table) Cancel(id uint64) bool {
	tb.mu.Lock()
	var t *Transfer
	for _, x := range tb.live {
		if x.ID == id {
			t = x
			break
		}
	}
	tb.mu.Unlock()
	if t == nil {
		return false
	}
	t.Cancel()
	return true
}

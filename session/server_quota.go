package session

import (
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/qxfer/qxfer/session/internal/xfer"
)

// quotaRescan is how old a measured usage may grow before it is measured
// again, at a moment when no push is in flight on the server: what others
// change under a root (an administrator, a removal) is seen within it.
const quotaRescan = time.Minute

// quotas keeps the usage of every client root that has a quota= option.
//
// Usage is the apparent size (what ls -l shows, not blocks) of the
// regular files under the root, .part and resume records included,
// hard links counted once per name; symlinks are not followed. It is
// measured by a walk of the root the first time a client with a quota
// pushes, and then kept by the server's own accounting: each push notes
// the size of its destination and .part when admitted and again when it
// ends, and adds the difference to every measured root holding the file.
// A usage older than quotaRescan, or marked stale by a change the
// accounting does not see (treeChanged), is walked again when next
// needed at a moment no push is in flight, so that a walk never sees a
// push half counted.
type quotas struct {
	// mu guards the following fields.
	mu       sync.Mutex
	roots    map[string]*quotaUsage // by root, relative to the server root ("" is the root)
	inflight int                    // pushes admitted and not ended, all roots
}

// quotaUsage is one client root's usage.
type quotaUsage struct {
	bytes    int64 // stored under the root
	reserved int64 // growth admitted for the root's pushes in flight
	measured time.Time
	stale    bool
}

// quotaClaim is one admitted push's part in the accounting.
type quotaClaim struct {
	q        *quotas
	root     *os.Root // the client's
	clientP  string   // path under root
	key      string   // path under the server root
	own      *quotaUsage
	before   int64 // apparent bytes of destination + .part at admission
	reserved int64 // added to own.reserved
	counted  bool  // before was measured: some root is accounted
}

func newQuotas() *quotas { return &quotas{roots: map[string]*quotaUsage{}} }

// admit enters a push of size bytes to p (under the client's root, which
// is rootKey under the server root; key is p under the server root). With
// a quota (limit > 0) it refuses, with QuotaExceeded, a file that would
// take the root's usage past limit once stored, counting the growth of
// the root's other pushes in flight. The claim must be ended.
func (q *quotas) admit(root *os.Root, rootKey, p, key string, size uint64, limit int64) (*quotaClaim, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	c := &quotaClaim{q: q, root: root, clientP: p, key: key}
	var own *quotaUsage
	if limit > 0 {
		own = q.roots[rootKey]
		if own == nil {
			own = &quotaUsage{}
			q.roots[rootKey] = own
		}
		if own.measured.IsZero() || (q.inflight == 0 && (own.stale || time.Since(own.measured) > quotaRescan)) {
			own.bytes, own.measured, own.stale = usageOf(root), time.Now(), false
		}
	}
	if len(q.roots) > 0 {
		c.before, c.counted = storedAt(root, p), true
	}
	if own != nil {
		grow := max(int64(size)-c.before, 0)
		if own.bytes+own.reserved+grow > limit {
			return nil, xfer.Errorf(CodeQuotaExceeded, p, "%d bytes more would exceed the quota of %d bytes (%d stored, %d in transfers)",
				grow, limit, own.bytes, own.reserved)
		}
		own.reserved += grow
		c.own, c.reserved = own, grow
	}
	q.inflight++
	return c, nil
}

// end accounts what the push changed, whatever its outcome: the file
// stored, a partial kept, or nothing.
func (c *quotaClaim) end() {
	if c == nil {
		return
	}
	var after int64
	if c.counted {
		after = storedAt(c.root, c.clientP)
	}
	q := c.q
	q.mu.Lock()
	defer q.mu.Unlock()
	q.inflight--
	if c.own != nil {
		c.own.reserved -= c.reserved
	}
	if !c.counted {
		return
	}
	for k, u := range q.roots {
		if k == "" || c.key == k || strings.HasPrefix(c.key, k+"/") {
			u.bytes += after - c.before
		}
	}
}

// treeChanged marks every usage for a new walk: call it after a change
// the push accounting does not see (a removal, a rename).
func (q *quotas) treeChanged() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, u := range q.roots {
		u.stale = true
	}
}

// storedAt returns the apparent bytes of p and its .part under root.
func storedAt(root *os.Root, p string) int64 {
	var n int64
	for _, name := range []string{p, xfer.PartName(p)} {
		if fi, err := root.Lstat(name); err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
	}
	return n
}

// usageOf walks root and sums the apparent sizes of its regular files;
// what cannot be read is left out.
func usageOf(root *os.Root) int64 {
	var n int64
	fs.WalkDir(root.FS(), ".", func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			n += fi.Size()
		}
		return nil
	})
	return n
}

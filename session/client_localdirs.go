package session

import (
	"os"
	"sync"

	"github.com/qxfer/qxfer/session/internal/xfer"
)

// localDirs is what a client's pulls share to write their files cheaply:
// for each local root a pull writes into, its directories held open
// (xfer.KnownDirs, so a tree of small files walks each directory's path
// once), and the group commit of their fsyncs (xfer.GroupSync).
type localDirs struct {
	durable xfer.GroupSync

	// mu guards the following fields.
	mu sync.Mutex
	m  map[*os.Root]*xfer.KnownDirs // by the root of a pull running now
}

// open starts holding the directories of root for a pull; the returned
// function, called when the pull has ended, closes them.
func (l *localDirs) open(root *os.Root) (end func()) {
	k := &xfer.KnownDirs{}
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[*os.Root]*xfer.KnownDirs)
	}
	l.m[root] = k
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		delete(l.m, root)
		l.mu.Unlock()
		k.Close()
	}
}

// of returns the directories held for root, or nil (each file then walks
// its path).
func (l *localDirs) of(root *os.Root) *xfer.KnownDirs {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m[root]
}

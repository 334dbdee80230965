package xfer

import (
	"errors"
	"os"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// A receiver holds an exclusive lock on the .part it writes, from the
// moment it opens it until the file is renamed into place and its record
// removed (or until it gives the file up), so that two processes
// receiving one destination (a cron job that overlaps itself, two servers
// on one tree) never share a .part: the second fails at once with
// wire.Busy naming the first, and leaves nothing behind. Within one
// process the transfer tables already keep a single writer per
// destination; the lock is what covers other processes. It is advisory
// (flock on Unix, LockFileEx on a byte far past the end on Windows), so
// it binds qxfer processes only.

// errLocked says another open file description holds the lock.
var errLocked = errors.New("locked by another process")

// closeBeforeRename is true where an open file cannot be renamed or
// removed (Windows): there the lock ends just before the rename.
const closeBeforeRename = isWindows

// lockPart takes the exclusive lock on f, the .part of p, without
// waiting. Held by another process, it fails with wire.Busy naming that
// process where the system tells (Linux: its pid, from /proc/locks).
func lockPart(f *os.File, p string) error {
	err := lockFile(f)
	if err == nil {
		return nil
	}
	if !errors.Is(err, errLocked) {
		return AsError(err, p)
	}
	if pid := lockHolder(f); pid > 0 {
		return Errorf(wire.Busy, p, "another process (pid %d) is receiving this file", pid)
	}
	return Errorf(wire.Busy, p, "another process is receiving this file")
}

// PartLocked reports whether a receiver, in this process or another,
// holds the lock on the .part named name under root (lockPart): a sweep
// of abandoned partials leaves such a file alone. A name that cannot be
// opened, or a system without locks, reads as not locked.
func PartLocked(root *os.Root, name string) bool {
	f, err := root.OpenFile(name, os.O_RDWR|openNonblock, 0)
	if err != nil {
		return false
	}
	defer f.Close() // drops the lock taken here, if any
	return errors.Is(lockFile(f), errLocked)
}

// stillNamed reports whether f is still the file named name under root:
// a .part locked just after its previous holder renamed it into place is
// the finished file, not a .part any more.
func stillNamed(root *os.Root, name string, f *os.File) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := root.Lstat(name)
	return err == nil && os.SameFile(a, b)
}

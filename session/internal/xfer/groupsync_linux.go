package xfer

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// haveSyncFS says GroupSync syncs file systems whole (syncfs(2), Linux
// 2.6.39; it reports writeback errors since Linux 5.8).
const haveSyncFS = true

// syncGroup syncs the file system of every file of batch once, and tells
// each file the result for its file system. A file whose device cannot
// be told is synced alone.
func syncGroup(batch []*syncWaiter) {
	if dirty, ok := dirtyNow(); ok && dirty > maxForeignDirty {
		// syncfs would write back what others left dirty too.
		for _, w := range batch {
			w.done <- w.f.Sync()
		}
		return
	}
	type fsGroup struct {
		fd    uintptr
		first *syncWaiter
		err   error
	}
	byDev := map[uint64]*fsGroup{}
	devs := make([]uint64, len(batch))
	for i, w := range batch {
		var st syscall.Stat_t
		if err := syscall.Fstat(int(w.f.Fd()), &st); err != nil {
			w.done <- w.f.Sync()
			batch[i] = nil
			continue
		}
		devs[i] = uint64(st.Dev)
		if byDev[devs[i]] == nil {
			byDev[devs[i]] = &fsGroup{fd: w.f.Fd(), first: w}
		}
	}
	for _, g := range byDev {
		if err := unix.Syncfs(int(g.fd)); err != nil {
			g.err = &os.PathError{Op: "syncfs", Path: g.first.f.Name(), Err: err}
		}
	}
	for i, w := range batch {
		if w != nil {
			w.done <- byDev[devs[i]].err
		}
	}
}

// maxForeignDirty is the most dirty page cache, in bytes, under which a
// group is made durable by syncfs(2). syncfs writes back every dirty page
// of the file system, whoever wrote it: after a cp -a of the Linux
// kernel's tree (1.7 GB dirty), a push of 50 changed files into it waited
// for all of it, 3.3 s against 2.0 s (issue 17, S7d). Above it the
// group's files are fsynced one by one, each writing back its own pages
// (the journal still commits them together when they come at once). 64
// MiB is under a second of writeback on the slowest disks qxfer targets,
// and above the dirty bytes of a group of small files (groupSyncMax
// each).
const maxForeignDirty = 64 << 20

// dirtyEvery is how long a reading of the dirty page cache is used
// again: a read of /proc/meminfo costs about 40 µs of system time here,
// and a push of the kernel tree makes tens of thousands of groups.
const dirtyEvery = 100 * time.Millisecond

// dirty is the last reading of dirtyBytes, and when it was taken.
var dirty struct {
	mu sync.Mutex
	at time.Time
	n  int64
	ok bool
}

// dirtyNow is dirtyBytes, read again at most every dirtyEvery.
func dirtyNow() (int64, bool) {
	dirty.mu.Lock()
	defer dirty.mu.Unlock()
	if now := time.Now(); dirty.at.IsZero() || now.Sub(dirty.at) >= dirtyEvery {
		dirty.n, dirty.ok = dirtyBytes()
		dirty.at = now
	}
	return dirty.n, dirty.ok
}

// dirtyBytes returns the machine's dirty page cache in bytes, as the
// "Dirty:" line of /proc/meminfo says (proc(5)); false when it cannot be
// read.
func dirtyBytes() (int64, bool) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	return parseDirty(b)
}

// parseDirty finds the "Dirty:" line of a /proc/meminfo text (a value in
// kB) and returns it in bytes.
func parseDirty(meminfo []byte) (int64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(meminfo))
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("Dirty:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, false
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil || kb < 0 {
			return 0, false
		}
		return kb << 10, true
	}
	return 0, false
}

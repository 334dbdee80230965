package main

import (
	"os"
	"sync"
)

// reopenFile is the --access-log file: appended to, and reopened by
// reopen (on SIGHUP) so that logrotate can move it aside and have the
// next line go to a new file at the same path, as for sshd or nginx.
type reopenFile struct {
	path string

	// mu guards the following fields.
	mu sync.Mutex
	f  *os.File
}

// accessLogPerm is the mode of a new access log file: it names clients,
// paths and addresses, so others may not read it.
const accessLogPerm = 0o640

func openReopenFile(path string) (*reopenFile, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, accessLogPerm)
	if err != nil {
		return nil, err
	}
	return &reopenFile{path: path, f: f}, nil
}

// Write appends p (one log line: zerolog writes each line in one call).
func (r *reopenFile) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return 0, os.ErrClosed
	}
	return r.f.Write(p)
}

// reopen opens the path again and switches to it. If that fails, the old
// file stays in use and the error is returned.
func (r *reopenFile) reopen() error {
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, accessLogPerm)
	if err != nil {
		return err
	}
	r.mu.Lock()
	old := r.f
	r.f = f
	r.mu.Unlock()
	return old.Close()
}

// Close closes the file.
func (r *reopenFile) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}

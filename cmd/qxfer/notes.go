package main

import (
	"io"
	"os"
	"sync"
)

// noteWriter carries messages for the user (connection events and logs)
// to stderr, or above the progress bars while they are shown, so that the
// bars are redrawn below the message instead of being torn by it.
type noteWriter struct {
	stderr io.Writer

	// mu guards the following field.
	mu    sync.Mutex
	above io.Writer // the bars' writer, or nil
}

func (n *noteWriter) Write(p []byte) (int, error) {
	n.mu.Lock()
	above := n.above
	n.mu.Unlock()
	if above != nil {
		if k, err := above.Write(p); err == nil {
			return k, nil
		}
		// The bars have just ended: print it plainly.
	}
	return n.stderr.Write(p)
}

// setAbove routes messages above w (nil: back to stderr).
func (n *noteWriter) setAbove(w io.Writer) {
	n.mu.Lock()
	n.above = w
	n.mu.Unlock()
}

// notes is where messages for the user go: above the bars while they are
// shown, stderr otherwise.
func (e *env) notes() io.Writer {
	if e.noteW != nil {
		return e.noteW
	}
	return e.stderr
}

// stderrFile returns the file behind w, seeing through a noteWriter, so
// that the log format can follow whether stderr is a terminal.
func stderrFile(w io.Writer) (*os.File, bool) {
	if n, ok := w.(*noteWriter); ok {
		w = n.stderr
	}
	f, ok := w.(*os.File)
	return f, ok
}

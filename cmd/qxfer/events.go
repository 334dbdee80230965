package main

import (
	"fmt"
	"sync"
	"time"

	"github.com/qxfer/qxfer/session"
)

// printEvent tells the user about reconnects and migrations on stderr
// (above the progress bars while they are shown), and adds them to the
// --json stream.
func printEvent(e *env, ev session.Event) {
	e.hook.call(ev)
	w := e.notes()
	cause := printable(errMessage(ev.Err)) // may carry the server's words
	switch ev.Kind {
	case session.EventReconnecting:
		if ev.Attempt == 1 {
			fmt.Fprintf(w, "qxfer: connection lost (%s); reconnecting\n", cause)
		} else {
			fmt.Fprintf(w, "qxfer: reconnect attempt %d failed (%s)\n", ev.Attempt-1, cause)
		}
	case session.EventReconnected:
		fmt.Fprintf(w, "qxfer: reconnected after %s; resuming unfinished transfers\n", ev.Delay.Round(100*time.Millisecond))
	case session.EventMigrated:
		fmt.Fprintf(w, "qxfer: network changed (%s); connection migrated, transfers continue\n", ev.Detail)
	case session.EventMigrationFailed:
		fmt.Fprintf(w, "qxfer: network changed (%s) but the new path failed (%s); reconnecting\n", ev.Detail, cause)
	}
}

// eventHook hands connection events to the JSON stream of the running
// batch, if any.
type eventHook struct {
	// mu guards the following field.
	mu sync.Mutex
	fn func(session.Event)
}

func (h *eventHook) set(fn func(session.Event)) {
	h.mu.Lock()
	h.fn = fn
	h.mu.Unlock()
}

func (h *eventHook) call(ev session.Event) {
	h.mu.Lock()
	fn := h.fn
	h.mu.Unlock()
	if fn != nil {
		fn(ev)
	}
}

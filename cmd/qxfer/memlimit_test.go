package main

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/qxfer/qxfer/session"
)

// TestLimitMemory: a push or pull sets the runtime's soft memory limit to
// the batch's budget, which grows with -j and --connections (auto counts
// its most connections), and leaves a GOMEMLIMIT from the environment
// alone.
func TestLimitMemory(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	limit := func() int64 { return debug.SetMemoryLimit(-1) }

	t.Setenv("GOMEMLIMIT", "")
	limitMemory(8, "1")
	one := limit()
	if want := session.MemoryBudget(8, 1); one != want || one >= 64<<20 {
		t.Errorf("-j 8, one connection: limit %d, want %d, under 64 MiB", one, want)
	}
	limitMemory(64, "1")
	if got := limit(); got <= one {
		t.Errorf("-j 64: limit %d, want more than -j 8's %d", got, one)
	}
	limitMemory(8, "4")
	four := limit()
	if four <= one {
		t.Errorf("four connections: limit %d, want more than one's %d", four, one)
	}
	limitMemory(8, "auto")
	if got, want := limit(), session.MemoryBudget(8, session.DefaultMaxConnections); got != want {
		t.Errorf("auto: limit %d, want %d (the budget of its most connections)", got, want)
	}

	debug.SetMemoryLimit(math.MaxInt64)
	t.Setenv("GOMEMLIMIT", "1GiB")
	limitMemory(8, "1")
	if got := limit(); got != math.MaxInt64 {
		t.Errorf("with GOMEMLIMIT set: limit changed to %d, want it left alone", got)
	}
}

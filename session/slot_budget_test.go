package session

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/qxfer/qxfer/session/internal/xfer"
)

// TestSlotBudget checks that small files take their buffer's bytes of the
// byte budget with their slot (smallBudget): 16 files of 256 KiB fill a
// 4 MiB budget, the 17th waits until one gives its slot back, while files
// of 16 KiB are bounded by the slot count alone; and a wait given up
// leaves neither a slot nor budget taken.
func TestSlotBudget(t *testing.T) {
	sem := make(chan struct{}, maxSmallInFlight)
	budget := semaphore.NewWeighted(smallBudget)
	newSlot := func(size uint64) *slot {
		return &slot{sem: sem, budget: budget, cost: min(xfer.ChunkFor(size), smallBudget)}
	}
	ctx := context.Background()
	var big []*slot
	for range smallBudget / (256 << 10) {
		s := newSlot(200 << 10)
		if err := s.acquire(ctx); err != nil {
			t.Fatal(err)
		}
		big = append(big, s)
	}
	if len(big) != 16 {
		t.Fatalf("%d slots of 256 KiB fill the budget, want 16", len(big))
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	over := newSlot(200 << 10)
	if err := over.acquire(short); err == nil {
		t.Fatal("a 17th file of 200 KiB got a slot in a full 4 MiB budget")
	}
	if over.held || len(sem) != 16 {
		t.Fatalf("a wait given up left held=%v and %d slots taken, want false and 16", over.held, len(sem))
	}
	// One gives its slot back: the waiting file goes.
	got := make(chan error, 1)
	go func() { got <- over.acquire(ctx) }()
	big[0].release()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a released slot's budget did not let the waiting file go")
	}
	over.release()
	for _, s := range big[1:] {
		s.release()
	}
	// Tiny files: the slot count is the bound (128 × 16 KiB = 2 MiB).
	var tiny []*slot
	for range maxSmallInFlight {
		s := newSlot(100)
		short, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := s.acquire(short)
		cancel()
		if err != nil {
			t.Fatalf("file %d of 100 bytes: %v", len(tiny)+1, err)
		}
		tiny = append(tiny, s)
	}
	for _, s := range tiny {
		s.release()
	}
	if len(sem) != 0 || !budget.TryAcquire(smallBudget) {
		t.Fatalf("after every release %d slots and part of the budget are still taken", len(sem))
	}
}

package session

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func aheadJobs(n int) []*job {
	jobs := make([]*job, n)
	for i := range jobs {
		jobs[i] = &job{key: fmt.Sprintf("d%d/f%d", i/10, i)}
	}
	return jobs
}

// TestListAheadOrder: listAhead yields every job of its source once, in
// order; each job is handed to list before it is yielded and at most
// listAheadJobs ahead of it; the jobs it took and did not yield are left
// to the caller.
func TestListAheadOrder(t *testing.T) {
	jobs := aheadJobs(3*listAheadJobs + 7)
	listed := map[*job]int{} // job -> how many had been yielded when it was listed
	yielded := 0
	la := &listAhead{src: &sliceJobs{jobs: jobs}, list: func(j *job) { listed[j] = yielded }}
	for i, want := range jobs {
		j := la.next()
		if j != want {
			t.Fatalf("job %d: got %v, want %v", i, j, want)
		}
		at, ok := listed[j]
		if !ok {
			t.Fatalf("job %d yielded before it was listed", i)
		}
		if i-at >= listAheadJobs+1 {
			t.Errorf("job %d listed when %d had been yielded: more than %d ahead", i, at, listAheadJobs)
		}
		if i > listAheadJobs && i-at < listAheadJobs/2 {
			t.Errorf("job %d listed only %d jobs ahead, want up to %d", i, i-at, listAheadJobs)
		}
		yielded++
	}
	if j := la.next(); j != nil {
		t.Errorf("after the last job: got %v, want nil", j)
	}
	if len(listed) != len(jobs) {
		t.Errorf("listed %d jobs, want %d", len(listed), len(jobs))
	}

	// Stopped early: the jobs taken ahead go back to the caller, and
	// with those the source still holds make up the rest.
	src := &sliceJobs{jobs: aheadJobs(100)}
	la = &listAhead{src: src, list: func(*job) {}}
	first := la.next()
	left := la.left()
	if first == nil || len(left)+len(src.jobs) != 99 {
		t.Fatalf("stopped after one job: %d taken ahead and %d in the source, want 99 in all", len(left), len(src.jobs))
	}
	if len(left) > 0 && left[0].key != "d0/f1" {
		t.Errorf("first job left: %s, want d0/f1", left[0].key)
	}
}

// TestListAheadNeverWaitsHolding: over a walk slower than the transfers,
// listAhead yields the jobs it holds at once rather than wait for the
// walk to find more, and ends when the walk does.
func TestListAheadNeverWaitsHolding(t *testing.T) {
	feed := newWalkFeed(Options{})
	jobs := aheadJobs(3)
	for _, j := range jobs {
		feed.queue <- j
	}
	la := &listAhead{src: feed, list: func(*job) {}}
	got := make(chan *job, 8) // never full: the reader below never blocks
	ended := false
	var wg sync.WaitGroup
	t.Cleanup(func() {
		if !ended {
			close(feed.queue) // a failed test: end the walk, so next returns
		}
		wg.Wait()
	})
	wg.Go(func() {
		for {
			j := la.next()
			got <- j
			if j == nil {
				return
			}
		}
	})
	for i, want := range jobs {
		select {
		case j := <-got:
			if j != want {
				t.Fatalf("job %d: got %v, want %v", i, j, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("job %d not yielded while the walk goes on", i)
		}
	}
	late := &job{key: "late"}
	feed.queue <- late
	if j := <-got; j != late {
		t.Fatalf("job found later: got %v, want it", j)
	}
	close(feed.queue)
	ended = true
	if j := <-got; j != nil {
		t.Fatalf("after the walk ended: got %v, want nil", j)
	}
}

// TestListDirOfOnce: the jobs of one directory start its listing once,
// however many of them are taken ahead before the listing's goroutine
// runs; a directory the batch does not list starts none.
func TestListDirOfOnce(t *testing.T) {
	ds := &destStates{listed: map[string]bool{"d0": true}, want: map[string]int{"d0": 10}}
	spawned := 0
	spawn := func(func()) { spawned++ } // never run: the listing stays pending
	for _, j := range aheadJobs(20) {   // d0/... and d1/...
		ds.listDirOf(t.Context(), nil, j, spawn)
	}
	if spawned != 1 {
		t.Errorf("listings started for 10 jobs of a listed directory and 10 of another: %d, want 1", spawned)
	}
}

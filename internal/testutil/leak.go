package testutil

import (
	"runtime"
	"testing"
	"time"
)

// leakWait is how long the goroutine checks give goroutines to end.
const leakWait = 5 * time.Second

// CheckGoroutines waits for the number of goroutines to fall back to base
// (a runtime.NumGoroutine taken at the start of the test) and fails the
// test, with every goroutine's stack, if it does not within 5 s. Call it
// where everything the test started has been closed.
func CheckGoroutines(t testing.TB, base int) {
	t.Helper()
	deadline := time.Now().Add(leakWait)
	for {
		n := runtime.NumGoroutine()
		if n <= base {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("goroutines: got %d, want <= %d\n%s", n, base, buf)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// LeakCheck counts the goroutines now and runs CheckGoroutines against
// that count once the test and every cleanup registered after it have
// finished. Call it first in a test, so its cleanup runs last.
func LeakCheck(t testing.TB) {
	t.Helper()
	base := runtime.NumGoroutine()
	t.Cleanup(func() { CheckGoroutines(t, base) })
}

package xfer

import (
	"math"
	"os"
	"time"
)

// The instants an int64 of Unix nanoseconds holds: os.Chtimes and
// time.Time.UnixNano are exact only between them.
var (
	minNanoTime = time.Unix(0, math.MinInt64)
	maxNanoTime = time.Unix(0, math.MaxInt64)
)

// fitsNanos reports whether t is between 1677-09-21 and 2262-04-11, where
// Unix nanoseconds in an int64 hold it exactly.
func fitsNanos(t time.Time) bool {
	return !t.Before(minNanoTime) && !t.After(maxNanoTime)
}

// SetMTime sets the modification time of name under root to t exactly,
// and its access time to now. os.Chtimes converts through UnixNano, which
// wraps for an instant beyond 2262 (2445 became 1861); such instants are
// set from seconds and nanoseconds where the system allows it (Linux,
// utimensat), and fail elsewhere, so the next up-to-date check sees the
// difference rather than a wrong time.
func SetMTime(root *os.Root, name string, t time.Time) error {
	if fitsNanos(t) {
		return root.Chtimes(name, time.Now(), t)
	}
	return setWideMTime(root, name, t)
}

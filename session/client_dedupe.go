package session

import (
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// dedupe drops the jobs of a batch that repeat an earlier job: the same
// source to the same destination ("qxfer push f f host:d", "pull h:x h:x
// dst"), which is transferred once and reported once, as rsync does. A
// different source bound for a destination an earlier job writes fails
// at once, naming both, rather than racing it (issue 13, class 7). Jobs
// that failed before starting are kept as they are.
func dedupe(jobs []*job) []*job {
	first := make(map[string]*job, len(jobs))
	out := jobs[:0]
	for _, j := range jobs {
		if j.preErr != nil || j.key == "" {
			out = append(out, j)
			continue
		}
		prev, ok := first[j.key]
		switch {
		case !ok:
			first[j.key] = j
		case sameSource(prev, j):
			continue
		default:
			j.preErr = xfer.Errorf(CodeBusy, j.t.Path, "%s and %s, listed earlier, have the same destination", j.src, prev.src)
		}
		out = append(out, j)
	}
	return out
}

// sameSource reports whether two jobs read the same file: the same path,
// or (for local sources) the same file under two names.
func sameSource(a, b *job) bool {
	if a.src == b.src {
		return true
	}
	return a.srcID.same(b.srcID)
}

package session

import (
	"context"
	"errors"
	"io/fs"
	"path"
	"time"

	"github.com/qxfer/qxfer/session/internal/xfer"
)

// maxSweepEvery bounds the time between two sweeps of abandoned partials.
const maxSweepEvery = time.Hour

// sweepEvery is how often partials are swept for a TTL: a quarter of
// it, so a partial outlives its TTL by at most a quarter, and at most an
// hour, so a long TTL is still checked hourly.
func sweepEvery(ttl time.Duration) time.Duration {
	return min(max(ttl/4, time.Second), maxSweepEvery)
}

// partialGroup is a destination's side files found by a sweep.
type partialGroup struct {
	dir    string // directory under the root, "." for the root itself
	names  []string
	newest time.Time // latest modification time of its files
}

// idlePoll is how often a sweep waiting for the server to be idle looks
// at the session count again.
const idlePoll = 100 * time.Millisecond

// sweepLoop removes abandoned partials once at once and then every
// sweepEvery(cfg.PartialTTL), until ctx is done. It does nothing when
// PartialTTL is zero (partials kept forever).
//
// A sweep walks the whole root, and it walks while no session runs: it
// waits at each directory while one does, for at most sweepEvery from its
// start, then goes on regardless. Issue 17: started with the server, the
// sweep of the Linux kernel tree's 5,760 directories was a quarter of
// the server's CPU in the no-op push that followed at once. So a partial
// outlives its TTL by at most two sweepEvery (half the TTL, at most two
// hours) on a busy server, and by one on an idle one, as before.
func (s *Server) sweepLoop(ctx context.Context) {
	ttl := s.cfg.PartialTTL
	if ttl <= 0 {
		return
	}
	every := sweepEvery(ttl)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		start := time.Now()
		s.sweepIdle(ctx, start, start.Add(every))
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sweepPartials removes, under the root, the side files (xfer.SideFile:
// .part, resume record, temporary record) of every destination whose
// side files have all been left untouched for cfg.PartialTTL at now, and
// returns how many partials (destinations) it removed. A partial a live
// push holds is never removed: the check against the transfer table and
// the removal happen under the table's lock, which every push takes
// before it opens its .part (Server.acquire), and the files' times are
// checked again there. A resumed push refreshes its partial's times
// (refreshPartial), so it lives another TTL once the push ends.
// Directories the sweep cannot read are skipped.
func (s *Server) sweepPartials(ctx context.Context, now time.Time) int {
	return s.sweepIdle(ctx, now, time.Time{})
}

// waitIdle waits while a session runs, until deadline (zero: no wait) or
// the end of ctx.
func (s *Server) waitIdle(ctx context.Context, deadline time.Time) {
	if deadline.IsZero() {
		return
	}
	for s.live.Load() > 0 {
		wait := min(idlePoll, time.Until(deadline))
		if wait <= 0 {
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// sweepIdle is sweepPartials walking only while no session runs
// (waitIdle at each directory) until deadline, and regardless after it.
func (s *Server) sweepIdle(ctx context.Context, now, deadline time.Time) int {
	if s.root == nil {
		return s.sweepS3(ctx, now)
	}
	cutoff := now.Add(-s.cfg.PartialTTL)
	groups := map[string]*partialGroup{}
	var order []string
	fsys := s.root.FS()
	fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if ctx.Err() != nil {
			return fs.SkipAll
		}
		if err != nil {
			s.log.Debug().Str("path", p).Err(err).Msg("sweep: skipping what it cannot read")
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			s.waitIdle(ctx, deadline)
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		key, kind := xfer.SideFile(d.Name())
		if kind == xfer.NotSide {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		dir := path.Dir(p)
		gk := dir + "/" + key
		g := groups[gk]
		if g == nil {
			g = &partialGroup{dir: dir}
			groups[gk] = g
			order = append(order, gk)
		}
		g.names = append(g.names, d.Name())
		if fi.ModTime().After(g.newest) {
			g.newest = fi.ModTime()
		}
		return nil
	})
	var stale []*partialGroup
	for _, gk := range order {
		if g := groups[gk]; g.newest.Before(cutoff) {
			stale = append(stale, g)
		}
	}
	if len(stale) == 0 {
		return 0
	}
	removed := 0
	s.table.withLive(Push, func(live []string) {
		held := make(map[string]bool, 3*len(live))
		for _, p := range live {
			held[xfer.PartName(p)] = true
			held[xfer.RecordName(p)] = true
			held[xfer.RecordName(p)+".tmp"] = true
		}
		for _, g := range stale {
			if s.removePartial(g, held, cutoff) {
				removed++
			}
		}
	})
	if removed > 0 {
		s.log.Info().Int("partials", removed).Dur("ttl", s.cfg.PartialTTL).Msg("swept abandoned partial files")
		s.metrics.partialsSwept(removed)
	}
	return removed
}

// removePartial removes the side files of g unless a live push holds one
// of them, a receiver holds the lock on its .part, or one has been
// touched since the walk; it reports whether it
// removed any. The caller holds the table's lock.
func (s *Server) removePartial(g *partialGroup, held map[string]bool, cutoff time.Time) bool {
	full := make([]string, len(g.names))
	for i, n := range g.names {
		full[i] = path.Join(g.dir, n)
		if held[full[i]] {
			return false
		}
		if _, kind := xfer.SideFile(n); kind == xfer.SidePart && xfer.PartLocked(s.root, full[i]) {
			return false // a receiver of another process (a second server on this root) holds it
		}
		fi, err := s.root.Lstat(full[i])
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false
		}
		if err == nil && !fi.ModTime().Before(cutoff) {
			return false
		}
	}
	gone := false
	for _, p := range full {
		err := s.root.Remove(p)
		switch {
		case err == nil:
			gone = true
		case !errors.Is(err, fs.ErrNotExist):
			s.log.Warn().Str("path", p).Err(err).Msg("sweep: cannot remove an abandoned partial file")
		}
	}
	return gone
}

// refreshPartial sets the times of destination p's .part and resume
// record to now, so that a resumed push's partial lives another
// PartialTTL from the resume.
func (s *Server) refreshPartial(p string) {
	if s.root == nil {
		return // an S3 root: the state object was just written
	}
	now := time.Now()
	for _, n := range []string{xfer.PartName(p), xfer.RecordName(p)} {
		if err := s.root.Chtimes(n, now, now); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Debug().Str("path", n).Err(err).Msg("cannot refresh a partial's time")
		}
	}
}

//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// S11 (issue 17): memory bounded by the work in flight, not by the tree.
// A synthetic tree of manyFiles one-byte files, manyPerDir to a
// directory, pushed and pulled on loopback by qxfer and rsync -a: the
// figures that matter are the peak RSS of each side (target: ≤ 64 MB for
// qxfer), then the time. BENCH_MANY_FILES changes the count (a smoke run).
const (
	manyFiles  = 1_000_000
	manyPerDir = 1000
)

// manyTree writes the tree once under the run's directory and returns its
// top directory and file count. Writing a million files takes a while:
// the tree is kept between the cases.
func (b *bench) manyTree() (string, int, error) {
	n := manyFiles
	if v, err := strconv.Atoi(os.Getenv("BENCH_MANY_FILES")); err == nil && v > 0 {
		n = v
	}
	top := filepath.Join(b.kit.dir, "src", fmt.Sprintf("many%d", n))
	done := filepath.Join(b.kit.dir, "src", fmt.Sprintf(".many%d-done", n))
	if _, err := os.Stat(done); err == nil {
		return top, n, nil
	}
	b.logf("writing %d files under %s", n, top)
	if err := os.RemoveAll(top); err != nil {
		return "", 0, err
	}
	for i := range n {
		dir := filepath.Join(top, fmt.Sprintf("d%04d", i/manyPerDir))
		if i%manyPerDir == 0 {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return "", 0, err
			}
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%07d.c", i)), []byte{'a' + byte(i%26)}, 0o644); err != nil {
			return "", 0, err
		}
	}
	if err := os.WriteFile(done, nil, 0o644); err != nil {
		return "", 0, err
	}
	return top, n, nil
}

// s11 measures a full push and a full pull of the many-file tree with
// qxfer and rsync -a on loopback (S11a, S11b), one run each unless
// BENCH_RUNS is set, as S7 does (measureTree checks every file arrived).
func (b *bench) s11(ctx context.Context, rep *Report) error {
	top, files, err := b.manyTree()
	if err != nil {
		return err
	}
	bytes, _ := dirBytes(top)
	runs := 1
	if os.Getenv("BENCH_RUNS") != "" {
		runs = b.runs
	}
	w, err := loopbackWorld()
	if err != nil {
		return err
	}
	defer w.close()
	qx := tool{name: "qxfer", label: "qxfer"}
	for ci, c := range []treeCase{{id: "a", title: "full push"}, {id: "b", title: "full pull", pull: true}} {
		if ctx.Err() != nil {
			break
		}
		id := fmt.Sprintf("S11%c", 'a'+ci)
		s := &Scenario{ID: id, Title: fmt.Sprintf("%d one-byte files, %s", files, c.title),
			What: fmt.Sprintf("%d files of 1 B, %d to a directory: peak RSS of each side, qxfer push/pull -r vs rsync -a", files, manyPerDir),
			Link: "loopback"}
		b.treeRuns(s, []tool{qx, rsync}, runs, func(t tool) (Run, error) {
			return b.measureTree(ctx, w, t, c, top, bytes, files)
		})
		rep.Scenarios = append(rep.Scenarios, s)
	}
	return nil
}

// manyRSS is issue 17's memory target: each side's peak RSS for a push or
// pull of a tree of any size.
const manyRSS = 64e6

// manyTargets checks S11 (and the kernel tree's S7a and S7b) against
// manyRSS.
func manyTargets(rep *Report) []Target {
	var ts []Target
	for _, id := range []string{"S7a", "S7b", "S11a", "S11b"} {
		s := rep.scenario(id)
		if s == nil {
			continue
		}
		for _, q := range qxferRows(s) {
			target := q.Label + " peak RSS ≤ 64 MB per side"
			if !ok(q) {
				ts = append(ts, Target{Scenario: id, Target: target, Measured: "qxfer failed: " + oneLine(q.Err), Verdict: "n/a"})
				continue
			}
			m := q.Median
			measured := fmt.Sprintf("client %s MB, server %s MB", mb(m.Client.RSS), mb(m.Server.RSS))
			if rs := s.result("rsync"); ok(rs) {
				measured += fmt.Sprintf(" (rsync: %s MB, %s MB)", mb(rs.Median.Client.RSS), mb(rs.Median.Server.RSS))
			}
			ts = append(ts, Target{Scenario: id, Target: target, Measured: measured,
				Verdict: verdict(m.Client.RSS <= manyRSS && m.Server.RSS <= manyRSS)})
		}
	}
	return ts
}

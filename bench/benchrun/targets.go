//go:build linux

package main

import (
	"fmt"
	"slices"
)

// Target is one goal of issue #6 and whether this run met it.
type Target struct {
	Scenario string `json:"scenario"`
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Verdict  string `json:"verdict"` // PASS, MISS, or n/a when a figure is missing
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

func qxferRows(s *Scenario) []*Result {
	var out []*Result
	for _, r := range s.Results {
		if r.Tool == "qxfer" {
			out = append(out, r)
		}
	}
	return out
}

func ok(r *Result) bool { return r != nil && len(r.Runs) > 0 }

// targets checks the goals of the issue against the medians. Every qxfer
// variant of a scenario is checked separately.
func targets(rep *Report) []Target {
	var ts []Target
	add := func(s, target, measured string, pass bool) {
		ts = append(ts, Target{Scenario: s, Target: target, Measured: measured, Verdict: verdict(pass)})
	}
	missing := func(s, target, why string) {
		ts = append(ts, Target{Scenario: s, Target: target, Measured: why, Verdict: "n/a"})
	}
	const mbLimit = 150e6
	if s := rep.scenario("S1"); s != nil {
		scp, ceil := s.result("scp"), s.result("quic-go ceiling")
		for _, q := range qxferRows(s) {
			if !ok(q) {
				missing("S1", q.Label+" ≥ 0.9× scp throughput (issue 17)", "qxfer failed: "+oneLine(q.Err))
				continue
			}
			g := q.Median.Goodput
			if ok(scp) {
				r := g / scp.Median.Goodput
				add("S1", q.Label+" ≥ 0.9× scp throughput (issue 17)", fmt.Sprintf("%.2f× (%.0f vs %.0f Mbit/s)", r, g, scp.Median.Goodput), r >= 0.9)
			} else {
				missing("S1", "qxfer ≥ 0.9× scp throughput (issue 17)", "scp failed")
			}
			if ok(ceil) {
				r := g / ceil.Median.Goodput
				add("S1", q.Label+" ≥ 0.7× the raw quic-go ceiling", fmt.Sprintf("%.2f× (%.0f vs %.0f Mbit/s)", r, g, ceil.Median.Goodput), r >= 0.7)
			} else {
				missing("S1", "qxfer ≥ 0.7× the raw quic-go ceiling", "quicperf failed")
			}
			add("S1", q.Label+" peak RSS ≤ 150 MB per side", fmt.Sprintf("client %s MB, server %s MB", mb(q.Median.Client.RSS), mb(q.Median.Server.RSS)),
				q.Median.Client.RSS <= mbLimit && q.Median.Server.RSS <= mbLimit)
		}
	}
	if s := rep.scenario("S2"); s != nil {
		for _, q := range qxferRows(s) {
			if !ok(q) {
				missing("S2", q.Label+" goodput ≥ 90% of 200 Mbit/s", "failed: "+oneLine(q.Err))
				continue
			}
			g := q.Median.Goodput
			add("S2", q.Label+" goodput ≥ 90% of the link rate", fmt.Sprintf("%.1f Mbit/s = %.1f%% of 200", g, g/2), g >= 180)
		}
	}
	if s := rep.scenario("S3"); s != nil {
		for _, q := range qxferRows(s) {
			for _, peer := range []string{"scp (bbr)", "scp (cubic)"} {
				name := q.Label + " ≥ " + peer + " goodput"
				pr := s.result(peer)
				if !ok(q) || !ok(pr) {
					missing("S3", name, "a tool failed")
					continue
				}
				g, pg := q.Median.Goodput, pr.Median.Goodput
				add("S3", name, fmt.Sprintf("%.2f× (%.1f vs %.1f Mbit/s)", g/pg, g, pg), g >= pg)
			}
		}
	}
	if s := rep.scenario("S4"); s != nil {
		q, scp, rs := s.result("qxfer"), s.result("scp -r"), s.result("rsync")
		if ok(q) && ok(scp) {
			r := effWall(scp.Median) / q.Median.Wall
			m := fmt.Sprintf("%.1f× (%.2f s vs %.1f s)", r, q.Median.Wall, effWall(scp.Median))
			if scp.Median.Bounded {
				m += ", scp projected from the files done in " + fmt.Sprint(int(scp.Median.Wall)) + " s"
			}
			add("S4", "qxfer push -r ≥ 10× faster than scp -r", m, r >= 10)
		} else {
			missing("S4", "qxfer push -r ≥ 10× faster than scp -r", "a tool failed")
		}
		if ok(q) && ok(rs) {
			r := rs.Median.Wall / q.Median.Wall
			add("S4", "qxfer push -r ≥ 3× faster than rsync -a (issue 17)", fmt.Sprintf("%.1f× (%.2f s vs %.2f s)", r, q.Median.Wall, rs.Median.Wall), r >= 3)
		} else {
			missing("S4", "qxfer push -r ≥ 3× faster than rsync -a (issue 17)", "a tool failed")
		}
	}
	if s := rep.scenario("S6"); s != nil {
		if len(s.Resume) == 0 {
			missing("S6", "resumed run sends ≤ 3% more than the remaining half", "no run completed")
		} else {
			ex := make([]float64, len(s.Resume))
			for i, r := range s.Resume {
				ex[i] = r.Excess()
			}
			slices.Sort(ex)
			med := ex[len(ex)/2]
			add("S6", "resumed run sends ≤ 3% more than the remaining half", fmt.Sprintf("%+.1f%% (median of %d)", med*100, len(ex)), med <= 0.03)
		}
	}
	ts = append(ts, kernelTargets(rep)...)
	ts = append(ts, deltaTargets(rep)...)
	ts = append(ts, treeSyncTargets(rep)...)
	return append(ts, manyTargets(rep)...)
}

// kernelTargets checks S7's cases against issue 17's targets for the
// kernel tree: a full push or pull at least as fast as rsync -a on
// loopback and 1.5× as fast on the 50 ms link (S7e, S7f), a no-op push no
// slower than rsync's with at most twice its bytes on the wire, and the
// push of the changed files no slower than rsync's.
func kernelTargets(rep *Report) []Target {
	var ts []Target
	speed := map[string]float64{"S7a": 1, "S7b": 1, "S7e": 1.5, "S7f": 1.5, "S7c": 1, "S7d": 1, "S7g": 1, "S7h": 1}
	for _, id := range []string{"S7a", "S7b", "S7c", "S7d", "S7e", "S7f", "S7g", "S7h"} {
		s := rep.scenario(id)
		if s == nil {
			continue
		}
		want := speed[id]
		target := fmt.Sprintf("qxfer ≥ %.1f× rsync -a's speed (issue 17)", want)
		q, rs := s.result("qxfer"), s.result("rsync")
		if !ok(q) || !ok(rs) {
			ts = append(ts, Target{Scenario: id, Target: target, Measured: "a tool failed", Verdict: "n/a"})
			continue
		}
		r := rs.Median.Wall / q.Median.Wall
		ts = append(ts, Target{Scenario: id, Target: target,
			Measured: fmt.Sprintf("%.2f× (%.1f s vs %.1f s)", r, q.Median.Wall, rs.Median.Wall), Verdict: verdict(r >= want)})
		if id != "S7c" && id != "S7g" {
			continue
		}
		target = "no-op push: qxfer's bytes on the wire ≤ 2× rsync's (issue 17)"
		qw, rw := q.Median.Wire, rs.Median.Wire
		if qw == nil || rw == nil {
			ts = append(ts, Target{Scenario: id, Target: target, Measured: "not counted", Verdict: "n/a"})
			continue
		}
		qb, rb := float64(qw.AB.OutBytes+qw.BA.OutBytes), float64(rw.AB.OutBytes+rw.BA.OutBytes)
		ts = append(ts, Target{Scenario: id, Target: target,
			Measured: fmt.Sprintf("%.2f× (%.1f MB vs %.1f MB)", qb/rb, qb/1e6, rb/1e6), Verdict: verdict(qb <= 2*rb)})
	}
	return ts
}

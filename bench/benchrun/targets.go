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
				missing("S1", q.Label+" ≥ 1.5× scp throughput", "qxfer failed: "+oneLine(q.Err))
				continue
			}
			g := q.Median.Goodput
			if ok(scp) {
				r := g / scp.Median.Goodput
				add("S1", q.Label+" ≥ 1.5× scp throughput", fmt.Sprintf("%.2f× (%.0f vs %.0f Mbit/s)", r, g, scp.Median.Goodput), r >= 1.5)
			} else {
				missing("S1", "qxfer ≥ 1.5× scp throughput", "scp failed")
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
			add("S4", "qxfer push -r ≥ 2× faster than rsync -a", fmt.Sprintf("%.1f× (%.2f s vs %.2f s)", r, q.Median.Wall, rs.Median.Wall), r >= 2)
		} else {
			missing("S4", "qxfer push -r ≥ 2× faster than rsync -a", "a tool failed")
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
	ts = append(ts, deltaTargets(rep)...)
	ts = append(ts, treeSyncTargets(rep)...)
	return append(ts, manyTargets(rep)...)
}

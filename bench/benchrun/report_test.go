package main

import (
	"strings"
	"testing"
)

// TestMarkdownKeepsByHand checks that a run's BENCHMARKS.md carries
// bench/analysis.md and bench/byhand.md, so a full make bench does not
// drop what was measured by hand.
func TestMarkdownKeepsByHand(t *testing.T) {
	const analysis = "### S1: a hand-written analysis line"
	const byHand = "## Lossy grid\n\n| link | ratio |\n|---|---|\n| 100 ms | 0.91× |\n"
	for _, tc := range []struct {
		name           string
		byHand         string
		wantHand, want string
	}{
		{name: "with byhand", byHand: byHand, wantHand: "| 100 ms | 0.91× |", want: "(From [bench/byhand.md]"},
		{name: "without byhand"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md := markdown(&Report{Runs: 1}, "", analysis, tc.byHand, true)
			if !strings.Contains(md, analysis) {
				t.Errorf("the analysis is missing:\n%s", md)
			}
			hasFrom := strings.Contains(md, "bench/byhand.md")
			if tc.byHand == "" {
				if hasFrom {
					t.Errorf("no byhand.md, yet the report names it:\n%s", md)
				}
				return
			}
			if !strings.Contains(md, tc.wantHand) || !strings.Contains(md, tc.want) {
				t.Errorf("the hand-measured section or its source line is missing:\n%s", md)
			}
			if strings.Index(md, tc.wantHand) < strings.Index(md, analysis) {
				t.Errorf("the hand-measured section comes before the analysis")
			}
		})
	}
}

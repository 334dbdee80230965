//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// Report is everything one `make bench` measured; bench/results.json holds
// it as JSON, BENCHMARKS.md as tables.
type Report struct {
	Machine    Machine      `json:"machine"`
	Runs       int          `json:"runs"`
	Quick      bool         `json:"quick"`
	HasConns   bool         `json:"qxfer_has_connections_flag"`
	Calib      *Calibration `json:"calibration,omitempty"`
	CalibLossy *Calibration `json:"calibration_lossy,omitempty"`
	Scenarios  []*Scenario  `json:"scenarios"`
	Targets    []Target     `json:"targets"`
	Micro      []Micro      `json:"micro,omitempty"`
	Elapsed    float64      `json:"elapsed_s"`
}

func (r *Report) scenario(id string) *Scenario {
	for _, s := range r.Scenarios {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// write saves results.json, the chart and BENCHMARKS.md: into the
// repository for a full run, into bench/out/ (not committed) for a quick
// or partial one.
func (b *bench) write(ctx context.Context, rep *Report) error {
	slices.SortStableFunc(rep.Scenarios, func(a, b *Scenario) int { return strings.Compare(a.ID, b.ID) })
	rep.Targets = targets(rep)
	outDir, mdPath, rel := filepath.Join(b.repo, "bench"), filepath.Join(b.repo, "BENCHMARKS.md"), "bench/"
	if b.quick || len(b.only) > 0 {
		outDir = filepath.Join(b.repo, "bench", "out")
		mdPath, rel = filepath.Join(outDir, "BENCHMARKS.md"), ""
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			return err
		}
	}
	jsonPath := filepath.Join(outDir, "results.json")
	if err := writeJSON(jsonPath, rep); err != nil {
		return err
	}
	chart := ""
	c := exec.CommandContext(ctx, "go", "run", ".", "-in", jsonPath, "-out", filepath.Join(outDir, "goodput"))
	c.Dir = filepath.Join(b.repo, "bench", "chart")
	if out, err := c.CombinedOutput(); err != nil {
		b.logf("chart: %v: %s", err, out)
	} else {
		chart = rel + "goodput.svg"
	}
	analysis, _ := os.ReadFile(filepath.Join(b.repo, "bench", "analysis.md"))
	byHand, _ := os.ReadFile(filepath.Join(b.repo, "bench", "byhand.md"))
	md := markdown(rep, chart, string(analysis), string(byHand), !(b.quick || len(b.only) > 0))
	if err := os.WriteFile(mdPath, []byte(md), 0o644); err != nil {
		return err
	}
	b.logf("wrote %s, %s and the chart (%.0f s in all)", mdPath, jsonPath, rep.Elapsed)
	for _, t := range rep.Targets {
		b.logf("%s %-4s %s: %s", t.Scenario, t.Verdict, t.Target, t.Measured)
	}
	return nil
}

func f1(v float64) string { return fmt.Sprintf("%.1f", v) }

func mb(n int64) string { return fmt.Sprintf("%.0f", float64(n)/1e6) }

// pctCore is CPU seconds over wall seconds, in percent of one core.
func pctCore(cpu, wall float64) string {
	if wall <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", cpu/wall*100)
}

// markdown renders BENCHMARKS.md: the run in rep, then analysis
// (bench/analysis.md) under "## Analysis", the micro-benchmarks, and
// byHand (bench/byhand.md: sections measured by hand or by parts of the
// bench, such as the lossy grid, which a run does not produce) verbatim,
// so that a full run keeps them.
func markdown(rep *Report, chart, analysis, byHand string, full bool) string {
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format, args...) }
	p("# Benchmarks\n\n")
	p("Written by `make bench` ([bench/benchrun](bench/benchrun), %d run(s) per figure, median reported, %.0f minutes in all); do not edit by hand. ", rep.Runs, rep.Elapsed/60)
	p("How each figure is measured, and what each scenario does: [bench/README.md](bench/README.md). Raw data: [bench/results.json](bench/results.json).\n\n")
	if rep.Quick {
		p("**Quick mode (BENCH_QUICK): small files, one run. Not for comparison.**\n\n")
	}
	p("**Read the figures as ratios between tools measured in the same run.** The machine is shared: two cores carry the client, the server and the link emulator at once, and other work (tests, builds) ran on it during the run, so absolute figures move from run to run. Runs of the tools are interleaved so a burst of load does not hit one tool only.\n\n")

	m := rep.Machine
	p("## Machine\n\n| | |\n|---|---|\n")
	p("| CPU | %s, %d cores, %.0f GiB |\n| kernel | %s (TCP congestion control default: %s) |\n| Go | %s |\n", m.CPU, m.Cores, m.MemGiB, m.Kernel, m.DefaultCC, m.Go)
	p("| date | %s |\n| qxfer | %s (commit %s) |\n| peers | %s; %s; %s |\n| data on | %s |\n\n", m.Date, m.Qxfer, m.Commit, m.OpenSSH, m.Rsync, m.Iperf3, m.FS)

	p("## Targets\n\n| | target | measured | verdict |\n|---|---|---|---|\n")
	for _, t := range rep.Targets {
		v := "**PASS**"
		if t.Verdict != "PASS" {
			v = "**" + t.Verdict + "**"
		}
		p("| %s | %s | %s | %s |\n", t.Scenario, t.Target, t.Measured, v)
	}
	p("\n")
	if chart != "" {
		p("## Goodput\n\n![goodput per tool and scenario](%s)\n\n", chart)
	}

	p("## Calibration of the link emulator\n\n")
	p("[linkem](bench/linkem) forwards packets between two network namespaces through TUN devices (this kernel has no netem). Before the link scenarios, Debian's `ping` and `iperf3` measure it; both must be within 5%% of the configured figures. iperf3 reports TCP payload, while the emulator's rate counts whole IP packets, so its figure is also shown scaled by 1500/1448 (IP packet over TCP payload with timestamps).\n\n")
	p("| link | check | configured | measured | within 5%% |\n|---|---|---|---|---|\n")
	if c := rep.Calib; c != nil {
		p("| 50 ms, 200 Mbit/s | RTT (ping, %d probes, average; min %.2f ms) | %.1f ms | %.2f ms | %s |\n", c.PingCount, c.RTTMin, c.WantRTT, c.RTTAvg, yes(c.RTTOK))
		p("| 50 ms, 200 Mbit/s | TCP throughput (iperf3 -t %d -O %d, %s) | %.0f Mbit/s | %.1f Mbit/s payload = %.1f Mbit/s IP (%.1f%%) | %s |\n",
			c.IperfSecs, c.IperfOmit, c.CC, c.WantRate, c.TCPGoodput, c.TCPIPRate, c.TCPIPRate/c.WantRate*100, yes(c.RateOK))
		if c.Err != "" {
			p("| | error | | %s | |\n", oneLine(c.Err))
		}
	}
	if c := rep.CalibLossy; c != nil {
		p("| 50 ms, 200 Mbit/s, 1%% loss | RTT (ping, average) | %.1f ms | %.2f ms | %s |\n", c.WantRTT, c.RTTAvg, yes(c.RTTOK))
		p("| 50 ms, 200 Mbit/s, 1%% loss | round-trip loss (%d pings) | %.2f%% | %.2f%% | (informative) |\n", c.PingCount, c.WantLoss*100, c.PingLoss*100)
	}
	p("\n")

	for _, s := range rep.Scenarios {
		scenarioMD(&w, s)
	}
	if analysis != "" {
		p("## Analysis\n\n%s\n", strings.TrimSpace(analysis))
		p("\n(From [bench/analysis.md](bench/analysis.md), written by hand; the tables above are from the latest run.)\n\n")
	}
	if len(rep.Micro) > 0 {
		p("## Micro-benchmarks\n\n`go test -bench` with `-benchmem` (B/op, allocs/op) for the frame codec (`session/internal/wire`) and the data path (`session`: a 64 MiB push over loopback; 500 small files through a 50 ms RTT proxy).\n\n")
		for _, mc := range rep.Micro {
			p("`%s`\n\n```text\n%s\n```\n\n", mc.Cmd, mc.Output)
			if mc.Err != "" {
				p("Failed: %s\n\n", mc.Err)
			}
		}
	}
	if byHand != "" {
		p("%s\n", strings.TrimSpace(byHand))
		p("\n(From [bench/byhand.md](bench/byhand.md), measured and written by hand; not rewritten by `make bench`.)\n")
	}
	_ = full
	return w.String()
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// primary is the qxfer row other tools are compared with.
func primary(s *Scenario) *Result {
	var first *Result
	for _, r := range s.Results {
		if r.Tool != "qxfer" || len(r.Runs) == 0 {
			continue
		}
		if r.Label == "qxfer --connections auto" {
			return r
		}
		if first == nil {
			first = r
		}
	}
	return first
}

func scenarioMD(w *strings.Builder, s *Scenario) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("## %s: %s\n\n%s; link: %s.\n\n", s.ID, s.Title, capitalize(s.What), s.Link)
	if s.ID == "S6" {
		resumeMD(w, s)
		return
	}
	if s.ID == "S8" {
		deltaMD(w, s)
		return
	}
	if s.ID == "S9" {
		treeSyncMD(w, s)
		return
	}
	q := primary(s)
	ratio := "qxfer ÷ tool (goodput)"
	if timeRatio(s) {
		ratio = "tool time ÷ qxfer time"
	}
	if q != nil {
		ratio = strings.Replace(ratio, "qxfer", "`"+q.Label+"`", 1)
	}
	p("| tool | goodput Mbit/s | runs (Mbit/s) | wall s | client CPU s | client peak RSS MB | server CPU s | server peak RSS MB | linkem CPU | %s |\n", ratio)
	p("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range s.Results {
		if len(r.Runs) == 0 {
			p("| %s | failed | %s | | | | | | | |\n", r.Label, oneLine(r.Err))
			continue
		}
		m := r.Median
		var runs []string
		for _, run := range r.Runs {
			v := f1(run.Goodput)
			if run.Bounded {
				v += "†"
			}
			runs = append(runs, v)
		}
		wall := fmt.Sprintf("%.2f", m.Wall)
		if m.Bounded {
			wall += "†"
			if m.Projected > 0 {
				wall += fmt.Sprintf(" (all files: ~%.0f s projected)", m.Projected)
			}
		}
		rat := "-"
		if q != nil && r != q {
			if timeRatio(s) {
				rat = fmt.Sprintf("%.1f×", effWall(m)/effWall(q.Median))
			} else if m.Goodput > 0 {
				rat = fmt.Sprintf("%.2f×", q.Median.Goodput/m.Goodput)
			}
		}
		lcpu := "-"
		if m.Wire != nil {
			lcpu = pctCore(m.LinkCPU, m.Wall)
		}
		p("| %s | %s | %s | %s | %.2f (%s) | %s | %.2f | %s | %s | %s |\n", r.Label, f1(m.Goodput), strings.Join(runs, " / "), wall,
			m.Client.CPU, pctCore(m.Client.CPU, m.Wall), mb(m.Client.RSS), m.Server.CPU, mb(m.Server.RSS), lcpu, rat)
		if r.Err != "" {
			p("| %s (a later run failed) | | %s | | | | | | | |\n", r.Label, oneLine(r.Err))
		}
	}
	p("\nCPU in parentheses is the share of one core over the wall time; linkem CPU likewise.")
	for _, r := range s.Results {
		if r.Median.Bounded {
			p(" † stopped at the deadline: goodput counts the payload that had reached the destination by then")
			if s.ID == "S4" {
				p(" (complete files), and the projected time assumes the same rate for the rest")
			} else {
				p(" (blocks of the destination file equal to the source, read with the server frozen; the raw quic-go ceiling counts bytes its server had read)")
			}
			p(".")
			break
		}
	}
	p("\n\n")
	notes := s.Notes
	for _, r := range s.Results {
		for i, run := range r.Runs {
			if run.Wire == nil {
				continue
			}
			if late := run.Wire.AB.Late + run.Wire.BA.Late; late > 0 {
				notes = append(notes, fmt.Sprintf("%s run %d: linkem wrote %d packets more than 10 ms after their release time (worst %.0f ms so far): the emulator itself was held up.",
					r.Label, i+1, late, float64(max(run.Wire.AB.MaxLateMicros, run.Wire.BA.MaxLateMicros))/1000))
			}
		}
	}
	writeNotes(w, notes)
}

// timeRatio says s compares times, not goodputs: trees, and transfers
// that move nothing (S4, the S7 and S11 cases).
func timeRatio(s *Scenario) bool {
	return s.ID == "S4" || strings.HasPrefix(s.ID, "S7") || strings.HasPrefix(s.ID, "S11")
}

// effWall is the time to move everything: the projection for a bounded run.
func effWall(r Run) float64 {
	if r.Bounded && r.Projected > 0 {
		return r.Projected
	}
	return r.Wall
}

func resumeMD(w *strings.Builder, s *Scenario) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("Bytes on the wire are IP bytes from the client's namespace to the server's, counted by linkem. The resumed run's payload is its wire bytes divided by the wire-per-payload ratio of uninterrupted pushes on the same link (S2: %s), so the framing overhead of QUIC, UDP and IP is not counted as resending.\n\n", overheadText(s))
	p("| run | at the kill | remaining | wire, killed run | wire, resumed run | resumed payload | vs remaining | resumed wall s | wire total ÷ file |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for i, r := range s.Resume {
		p("| %d | %.1f MiB | %.1f MiB | %.1f MiB | %.1f MiB | %.1f MiB | %+.1f%% | %.2f | %.3f |\n", i+1,
			float64(r.Received)/(1<<20), float64(r.Remaining)/(1<<20), float64(r.Wire1)/(1<<20), float64(r.Wire2)/(1<<20),
			r.ResumedPay/(1<<20), r.Excess()*100, r.Wall2, float64(r.Wire1+r.Wire2)/float64(r.Size))
	}
	p("\n")
	writeNotes(w, s.Notes)
}

func overheadText(s *Scenario) string {
	if len(s.Resume) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.4f", s.Resume[0].Overhead)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

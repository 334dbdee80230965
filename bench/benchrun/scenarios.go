//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Result is one tool's runs in one scenario.
type Result struct {
	Label  string `json:"label"`
	Tool   string `json:"tool"`
	Runs   []Run  `json:"runs"`
	Median Run    `json:"median"`
	Err    string `json:"error,omitempty"`
}

// Scenario is one table of BENCHMARKS.md.
type Scenario struct {
	ID      string       `json:"id"`
	Title   string       `json:"title"`
	What    string       `json:"what"`
	Link    string       `json:"link"`
	Results []*Result    `json:"results"`
	Resume  []ResumeRun  `json:"resume,omitempty"` // S6
	Delta   []DeltaRun   `json:"delta,omitempty"`  // S8
	Tree    []SyncRun    `json:"sync,omitempty"`   // S9
	Calib   *Calibration `json:"calibration,omitempty"`
	Notes   []string     `json:"notes,omitempty"`
}

func (s *Scenario) result(label string) *Result {
	for _, r := range s.Results {
		if r.Label == label {
			return r
		}
	}
	return nil
}

// median takes each figure's median over the runs separately.
func median(runs []Run) Run {
	if len(runs) == 0 {
		return Run{}
	}
	med := func(f func(Run) float64) float64 {
		v := make([]float64, len(runs))
		for i, r := range runs {
			v[i] = f(r)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	m := runs[0]
	m.Wall = med(func(r Run) float64 { return r.Wall })
	m.Goodput = med(func(r Run) float64 { return r.Goodput })
	m.Bytes = int64(med(func(r Run) float64 { return float64(r.Bytes) }))
	m.Client.CPU = med(func(r Run) float64 { return r.Client.CPU })
	m.Client.RSS = int64(med(func(r Run) float64 { return float64(r.Client.RSS) }))
	m.Server.CPU = med(func(r Run) float64 { return r.Server.CPU })
	m.Server.RSS = int64(med(func(r Run) float64 { return float64(r.Server.RSS) }))
	m.LinkCPU = med(func(r Run) float64 { return r.LinkCPU })
	m.Projected = med(func(r Run) float64 { return r.Projected })
	for _, r := range runs {
		m.Bounded = m.Bounded || r.Bounded
	}
	return m
}

// runTools measures each tool b.runs times, interleaving the tools so a
// burst of load from elsewhere on the machine does not hit one tool only.
func (b *bench) runTools(ctx context.Context, s *Scenario, w *world, tools []tool, j job, runs map[string]int) {
	for _, t := range tools {
		s.Results = append(s.Results, &Result{Label: t.label, Tool: t.name})
	}
	for i := range b.runs {
		for _, t := range tools {
			res := s.result(t.label)
			n := b.runs
			if v, ok := runs[t.label]; ok {
				n = v
			}
			if i >= n || res.Err != "" || ctx.Err() != nil {
				continue
			}
			b.logf("%s %s run %d/%d", s.ID, t.label, i+1, n)
			r, err := b.measure(ctx, w, t, j)
			if err != nil {
				res.Err = err.Error()
				b.logf("%s %s: %v", s.ID, t.label, err)
				continue
			}
			b.logf("  %.2f s, %.1f Mbit/s%s, client %.2f CPU-s %s, server %.2f CPU-s %s", r.Wall, r.Goodput, boundedMark(r),
				r.Client.CPU, mib(r.Client.RSS), r.Server.CPU, mib(r.Server.RSS))
			res.Runs = append(res.Runs, r)
			res.Median = median(res.Runs)
		}
	}
}

func boundedMark(r Run) string {
	if r.Bounded {
		return " (at the deadline)"
	}
	return ""
}

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

// qxferTools are qxfer's variants for a bulk transfer: with --connections 1
// and auto (and 16) where the flag exists, else the default.
func (b *bench) qxferBulk(many bool) []tool {
	if !b.kit.hasConns {
		return []tool{{name: "qxfer", label: "qxfer"}}
	}
	ts := []tool{
		{name: "qxfer", label: "qxfer --connections 1", args: []string{"--connections", "1"}},
		{name: "qxfer", label: "qxfer --connections auto", args: []string{"--connections", "auto"}},
	}
	if many {
		ts = append(ts, tool{name: "qxfer", label: "qxfer --connections 16", args: []string{"--connections", "16"}})
	}
	return ts
}

var (
	scp      = tool{name: "scp", label: "scp"}
	rsync    = tool{name: "rsync", label: "rsync"}
	quicperf = tool{name: "quicperf", label: "quic-go ceiling"}
)

func (b *bench) s1(ctx context.Context) (*Scenario, error) {
	s := &Scenario{ID: "S1", Title: "Loopback, one large file",
		What: fmt.Sprintf("one %s random file pushed to disk over 127.0.0.1 inside one network namespace (no emulator)", size(b.sz.big)),
		Link: "loopback"}
	w, err := loopbackWorld()
	if err != nil {
		return nil, err
	}
	defer w.close()
	tools := []tool{{name: "qxfer", label: "qxfer"}, scp, rsync, quicperf}
	b.runTools(ctx, s, w, tools, job{srcs: []string{b.data.big}, bytes: b.sz.big, files: 1}, nil)
	return s, nil
}

func (b *bench) s2(ctx context.Context, w *world) *Scenario {
	s := &Scenario{ID: "S2", Title: "Long fat link, one file",
		What: fmt.Sprintf("one %s random file", size(b.sz.mid)), Link: w.link.spec.String()}
	tools := append(b.qxferBulk(false), scp, rsync, quicperf)
	b.runTools(ctx, s, w, tools, job{srcs: []string{b.data.mid}, bytes: b.sz.mid, files: 1}, nil)
	return s
}

func (b *bench) s3(ctx context.Context, w *world) *Scenario {
	s := &Scenario{ID: "S3", Title: "Lossy long fat link, one file",
		What: fmt.Sprintf("one %s random file, each run stopped after %v at most", size(b.sz.mid), b.s3Limit),
		Link: w.link.spec.String()}
	tools := b.qxferBulk(true)
	tools = append(tools,
		tool{name: "scp", label: "scp (bbr)", cc: "bbr"}, tool{name: "scp", label: "scp (cubic)", cc: "cubic"},
		tool{name: "rsync", label: "rsync (bbr)", cc: "bbr"}, tool{name: "rsync", label: "rsync (cubic)", cc: "cubic"},
		quicperf)
	if !b.kit.hasConns {
		s.Notes = append(s.Notes, "qxfer push has no --connections flag in this build, so qxfer ran with its default (one connection).")
	}
	b.runTools(ctx, s, w, tools, job{srcs: []string{b.data.mid}, bytes: b.sz.mid, files: 1, deadline: b.s3Limit}, nil)
	return s
}

func (b *bench) s4(ctx context.Context, w *world) *Scenario {
	s := &Scenario{ID: "S4", Title: "Many small files",
		What: fmt.Sprintf("a tree of %d files of %s (%d directories of %d), push -r / scp -r / rsync -a; scp stopped after %v",
			b.sz.treeDirs*b.sz.treeFiles, size(b.sz.small), b.sz.treeDirs, b.sz.treeFiles, b.s4Limit),
		Link: w.link.spec.String()}
	n := b.sz.treeDirs * b.sz.treeFiles
	j := job{srcs: []string{b.data.tree}, recursive: true, bytes: int64(n) * b.sz.small, files: n, fileSize: b.sz.small}
	b.runTools(ctx, s, w, []tool{{name: "qxfer", label: "qxfer"}, rsync}, j, nil)
	// scp -r costs round trips per file: bound it and project the total
	// from the files done by the deadline.
	j.deadline = b.s4Limit
	b.runTools(ctx, s, w, []tool{{name: "scp", label: "scp -r", args: nil}}, j, nil)
	return s
}

func (b *bench) s5(ctx context.Context, w *world) *Scenario {
	s := &Scenario{ID: "S5", Title: "Medium files in parallel",
		What: fmt.Sprintf("%d files of %s", len(b.data.medium), size(b.sz.medium)), Link: w.link.spec.String()}
	tools := []tool{
		{name: "qxfer", label: "qxfer -j 8", args: []string{"-j", "8"}},
		{name: "qxfer", label: "qxfer -j 1", args: []string{"-j", "1"}},
		scp, rsync,
	}
	j := job{srcs: b.data.medium, bytes: int64(len(b.data.medium)) * b.sz.medium, files: len(b.data.medium), fileSize: b.sz.medium}
	b.runTools(ctx, s, w, tools, j, nil)
	return s
}

// sizes are the scenario sizes, smaller in quick mode.
type sizes struct {
	big, mid, small, medium int64
	treeDirs, treeFiles     int
	mediumFiles             int
}

// dataset is the source files.
type dataset struct {
	big, mid, tree string
	medium         []string
}

func size(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// makeData writes random source files (ChaCha8: incompressible, fast).
func (b *bench) makeData() error {
	d := filepath.Join(b.kit.dir, "src")
	b.data.big = filepath.Join(d, "big.bin")
	b.data.mid = filepath.Join(d, "mid.bin")
	b.data.tree = filepath.Join(d, "tree")
	if err := writeRandom(b.data.big, b.sz.big, 1); err != nil {
		return err
	}
	if err := writeRandom(b.data.mid, b.sz.mid, 2); err != nil {
		return err
	}
	seed := uint64(100)
	for i := range b.sz.treeDirs {
		for k := range b.sz.treeFiles {
			seed++
			if err := writeRandom(filepath.Join(b.data.tree, fmt.Sprintf("d%02d", i), fmt.Sprintf("f%03d.dat", k)), b.sz.small, seed); err != nil {
				return err
			}
		}
	}
	for i := range b.sz.mediumFiles {
		p := filepath.Join(d, "medium", fmt.Sprintf("m%02d.bin", i))
		if err := writeRandom(p, b.sz.medium, uint64(10000+i)); err != nil {
			return err
		}
		b.data.medium = append(b.data.medium, p)
	}
	// A fixed, old mtime: nothing is ever "up to date" by accident because
	// every run goes to a fresh directory.
	old := time.Now().Add(-24 * time.Hour)
	return filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			return os.Chtimes(p, old, old)
		}
		return err
	})
}

//go:build linux

package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/qxfer/qxfer/bench/internal/netns"
)

// The A/B mode: `benchrun -ab OLD_BIN,NEW_BIN` times two qxfer binaries
// against each other in one run, interleaved (A B A B ...), on the cases
// of the no-regression criterion: push and pull of a 1 GiB file on
// loopback, push and pull of the S4 tree (2000 files of 4 KiB) over the
// 50 ms, 200 Mbit/s link. Each binary is its own server and client. See
// bench/README.md, "A/B: one binary against another".

// abRequested reports whether the command line asks for the A/B mode.
func abRequested(args []string) bool {
	return slices.ContainsFunc(args, func(a string) bool {
		a = strings.TrimLeft(a, "-")
		return a == "ab" || strings.HasPrefix(a, "ab=")
	})
}

// abSide is one of the two binaries with its own identities.
type abSide struct {
	name string // "A" or "B"
	kit  kit
	desc string // path, version, sha256 prefix
}

// abCase is one row of the A/B table.
type abCase struct {
	id    string // push-lo, pull-lo, push-small, pull-small
	title string // set from the sizes by name
	link  bool   // over the emulated 50 ms link, else loopback
	pull  bool
	tree  bool // the small-file tree, else the big file
}

var abCases = []abCase{
	{id: "push-lo"},
	{id: "pull-lo", pull: true},
	{id: "push-small", link: true, tree: true},
	{id: "pull-small", link: true, pull: true, tree: true},
}

// name is the case as the table shows it.
func (c abCase) name(sz sizes) string {
	verb := map[bool]string{false: "push", true: "pull"}[c.pull]
	if c.tree {
		return fmt.Sprintf("%s -r %d x %s, 50 ms link", verb, sz.treeDirs*sz.treeFiles, size(sz.small))
	}
	return fmt.Sprintf("%s %s, loopback", verb, size(sz.big))
}

// abRun is one timed transfer.
type abRun struct {
	wall, cliCPU, srvCPU float64
	other                float64 // CPU used by everything else on the machine during the run, in cores
}

// abResult is one case's runs of both sides.
type abResult struct {
	c    abCase
	runs [2][]abRun // A, B
	err  [2]string
}

func (b *bench) ab(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("benchrun -ab", flag.ContinueOnError)
	pair := fs.String("ab", "", "`A_BIN,B_BIN`: the two qxfer binaries (A the baseline)")
	fs.IntVar(&b.runs, "runs", 5, "timed runs per binary and case")
	warmup := fs.Int("warmup", 1, "untimed rounds (A then B) per case before the timed ones")
	tol := fs.Float64("tol", 0.03, "B passes a case when median(B)/median(A) <= 1+tol")
	only := fs.String("cases", "", "comma-separated subset of push-lo,pull-lo,push-small,pull-small")
	out := fs.String("out", "", "also write the markdown report to this file")
	fs.BoolVar(&b.quick, "quick", false, "smoke test: 64 MiB file, 200 small files")
	quiet := fs.Float64("quiet", 0.25, "before each run, wait until the rest of the machine uses less than this many cores (0: do not wait)")
	quietBudget := fs.Duration("quiet-budget", time.Minute, "the most time spent waiting for -quiet in the whole run")
	nice := fs.Int("nice", 0, "run the driver, linkem and both qxfers at this nice value (e.g. -10 when other work must go on)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	bins := strings.Split(*pair, ",")
	if len(bins) != 2 || bins[0] == "" || bins[1] == "" {
		return errors.New("-ab wants two binaries: -ab OLD_BIN,NEW_BIN")
	}
	if b.runs < 1 || *warmup < 0 {
		return errors.New("-runs must be at least 1 and -warmup at least 0")
	}
	cases := abCases
	if *only != "" {
		want := strings.Split(*only, ",")
		cases = slices.DeleteFunc(slices.Clone(abCases), func(c abCase) bool { return !slices.Contains(want, c.id) })
		if len(cases) == 0 {
			return fmt.Errorf("-cases %q names none of push-lo,pull-lo,push-small,pull-small", *only)
		}
	}
	err := b.preflight("needs root (network namespaces, TUN devices)", "run from the repository root")
	if err != nil {
		return err
	}
	if names, _ := netns.Cleanup(false); len(names) > 0 {
		b.logf("deleted %d namespaces left by earlier runs", len(names))
	}

	if *nice != 0 {
		if err := reniceSelf(*nice); err != nil {
			return err
		}
	}
	b.kit.dir, err = os.MkdirTemp(os.Getenv("BENCH_TMPDIR"), "qxfer-ab-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(b.kit.dir)
	b.kit.linkem = filepath.Join(b.kit.dir, "bin", "linkem")
	b.logf("go build -o %s ./bench/linkem", b.kit.linkem)
	if _, err := runOut(ctx, "go", "build", "-o", b.kit.linkem, "./bench/linkem"); err != nil {
		return err
	}
	var sides [2]*abSide
	for i, bin := range bins {
		s := &abSide{name: string(rune('A' + i))}
		if s.kit.qxfer, err = filepath.Abs(bin); err != nil {
			return err
		}
		s.kit.dir = filepath.Join(b.kit.dir, "side-"+s.name)
		if err := s.kit.setupIdentity(ctx); err != nil {
			return fmt.Errorf("%s (%s): %w", s.name, bin, err)
		}
		s.desc = fmt.Sprintf("`%s` (%s, sha256 %s)", s.kit.qxfer,
			strings.Join(strings.Fields(cmdLine(ctx, s.kit.qxfer, "version")), " "), fileHash(s.kit.qxfer))
		sides[i] = s
	}

	b.sz = sizes{big: 1 << 30, small: 4 << 10, treeDirs: 20, treeFiles: 100}
	if b.quick {
		b.sz = sizes{big: 64 << 20, small: 4 << 10, treeDirs: 5, treeFiles: 40}
	}
	b.logf("writing the source files in %s", b.kit.dir)
	if err := b.makeData(); err != nil {
		return err
	}
	syscall.Sync()

	var lo, lk *world
	defer func() {
		for _, w := range []*world{lo, lk} {
			if w != nil {
				w.close()
			}
		}
	}()
	spec := linkSpec{Delay: 25 * time.Millisecond, Rate: 200e6} // S4's link
	gate := &quietGate{limit: *quiet, budget: *quietBudget}
	var results []*abResult
	for _, c := range cases {
		c.title = c.name(b.sz)
		w := lo
		if c.link {
			if lk == nil {
				if lk, err = linkWorld(ctx, b.kit.linkem, spec); err != nil {
					return err
				}
			}
			w = lk
		} else if lo == nil {
			if lo, err = loopbackWorld(); err != nil {
				return err
			}
			w = lo
		}
		res := &abResult{c: c}
		results = append(results, res)
		for round := range *warmup + b.runs {
			for i, s := range sides {
				if res.err[i] != "" || ctx.Err() != nil {
					continue
				}
				timed := round >= *warmup
				what := "warm-up"
				if timed {
					what = fmt.Sprintf("run %d/%d", round-*warmup+1, b.runs)
				}
				if *nice != 0 {
					reniceSelf(*nice) // threads the runtime started since
				}
				gate.wait(ctx, w, b)
				r, err := b.abMeasure(ctx, w, s, c)
				if err != nil {
					res.err[i] = oneLine(err.Error())
					b.logf("%s %s %s: %v", c.id, s.name, what, err)
					continue
				}
				b.logf("%s %s %s: %.3f s (client %.2f CPU-s, server %.2f CPU-s, rest of the machine %.2f cores)",
					c.id, s.name, what, r.wall, r.cliCPU, r.srvCPU, r.other)
				if timed {
					res.runs[i] = append(res.runs[i], r)
				}
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	md := abReport(sides, results, b.runs, *warmup, *tol, spec, gate, *nice, time.Since(b.started))
	fmt.Print(md)
	if *out != "" {
		return os.WriteFile(*out, []byte(md), 0o644)
	}
	return nil
}

// abMeasure runs one transfer of c with side s in w: a fresh server of s's
// binary, s's client, a fresh destination. The time is the client's, from
// start to exit. The destination is checked, removed and synced to disk
// before the next run, so no run pays for the previous one's writeback.
func (b *bench) abMeasure(ctx context.Context, w *world, s *abSide, c abCase) (abRun, error) {
	var r abRun
	runSeq++
	src, remote := b.data.big, "big.bin"
	wantBytes, wantFiles := b.sz.big, 1
	if c.tree {
		src, remote = b.data.tree, "tree"
		wantFiles = b.sz.treeDirs * b.sz.treeFiles
		wantBytes = int64(wantFiles) * b.sz.small
	}
	var root, dest string
	var cmd func(fp string) []string
	common := func(verb, fp string) []string {
		a := []string{verb, "-q", "--log-level", "warn", "--log-format", "console", "--fingerprint", fp}
		if c.tree {
			a = append(a, "-r")
		}
		return a
	}
	if c.pull {
		root = filepath.Dir(src) // the server serves the source directory
		dest = filepath.Join(b.kit.dir, "pulled", fmt.Sprintf("run%d", runSeq))
		cmd = func(fp string) []string { return append(common("pull", fp), w.addr+":4433:"+remote, dest) }
	} else {
		root = filepath.Join(b.kit.dir, "srv-root")
		sub := fmt.Sprintf("run%d", runSeq)
		dest = filepath.Join(root, sub)
		cmd = func(fp string) []string { return append(common("push", fp), src, w.addr+":4433:"+sub) }
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return r, err
	}
	defer func() {
		os.RemoveAll(dest)
		syscall.Sync()
	}()
	before := takeCPU(w)
	srv, fp, err := s.kit.startServer(ctx, w, tool{name: "qxfer"}, root)
	if err != nil {
		return r, err
	}
	defer srv.p.kill()
	cctx, cancel := context.WithTimeoutCause(ctx, 5*time.Minute, errors.New("client still running after 5 minutes"))
	defer cancel()
	cli, err := spawnWait(cctx, s.name+" "+c.id, inNS(w.nsClient, []string{"QXFER_HOME=" + s.kit.clientHome}, s.kit.qxfer, cmd(fp)...))
	if err != nil {
		return r, err
	}
	if cli.err != nil {
		return r, fmt.Errorf("client: %s", fmtErr(cli))
	}
	r.wall = cli.wall.Seconds()
	r.cliCPU = cli.usage().CPU
	r.srvCPU = srv.stop().CPU
	r.other = takeCPU(w).otherSince(before, r.cliCPU+r.srvCPU)
	if n, files := dirBytes(dest); n != wantBytes || files != wantFiles {
		return r, fmt.Errorf("destination holds %d bytes in %d files, want %d in %d", n, files, wantBytes, wantFiles)
	}
	return r, nil
}

func fileHash(p string) string {
	f, err := os.Open(p)
	if err != nil {
		return "?"
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "?"
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Sorted(slices.Values(v))
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func (r *abResult) med(i int, f func(abRun) float64) float64 {
	v := make([]float64, len(r.runs[i]))
	for k, run := range r.runs[i] {
		v[k] = f(run)
	}
	return medianOf(v)
}

func wallOf(r abRun) float64 { return r.wall }

// abReport is the markdown report: the wall-time table with the verdicts,
// then the CPU medians.
func abReport(sides [2]*abSide, results []*abResult, runs, warmup int, tol float64, spec linkSpec, gate *quietGate, nice int, elapsed time.Duration) string {
	var sb strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&sb, format, args...) }
	p("\n## A/B: %d interleaved runs per binary and case\n\n", runs)
	p("- A: %s\n- B: %s\n", sides[0].desc, sides[1].desc)
	p("- order per case: %d untimed warm-up round(s), then A B A B ...; each binary is its own server and client; fresh destination per run\n", warmup)
	p("- loopback: one network namespace; link: linkem %s (S4's)\n", spec)
	if nice != 0 {
		p("- driver, linkem and qxfer processes at nice %d\n", nice)
	}
	if gate.limit > 0 {
		p("- before each run, waited for the rest of the machine to use < %.2f cores: %s in all", gate.limit, gate.waited.Round(time.Second))
		if gate.late > 0 {
			p(", %d run(s) started busy (%s budget spent)", gate.late, gate.budget)
		}
		p("\n")
	}
	p("- %d cores, %s, %s; took %s\n\n", runtime.NumCPU(), cmdLine(context.Background(), "uname", "-sr"),
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), elapsed.Round(time.Second))
	p("| case | A median s | B median s | B/A | ≤ %+.0f%% | A runs (s) | B runs (s) | B/A of pairs, median | other load, max cores |\n", tol*100)
	p("|---|---:|---:|---:|:---:|---|---|---:|---:|\n")
	for _, r := range results {
		ma, mb := r.med(0, wallOf), r.med(1, wallOf)
		ratio, verdict, pairs := "-", "n/a", "-"
		if r.err[0] == "" && r.err[1] == "" && ma > 0 {
			ratio = fmt.Sprintf("%.3f", mb/ma)
			verdict = abVerdict(mb/ma <= 1+tol)
			var pr []float64
			for i := range min(len(r.runs[0]), len(r.runs[1])) {
				pr = append(pr, r.runs[1][i].wall/r.runs[0][i].wall)
			}
			pairs = fmt.Sprintf("%.3f", medianOf(pr))
		}
		other := 0.0
		for _, side := range r.runs {
			for _, run := range side {
				other = max(other, run.other)
			}
		}
		p("| %s | %s | %s | %s | %s | %s | %s | %s | %.2f |\n", r.c.title, fmtMed(ma, r.err[0]), fmtMed(mb, r.err[1]), ratio, verdict,
			fmtRuns(r.runs[0]), fmtRuns(r.runs[1]), pairs, other)
	}
	p("\nCPU seconds (user+system), medians:\n\n")
	p("| case | A client | B client | A server | B server |\n|---|---:|---:|---:|---:|\n")
	for _, r := range results {
		cli := func(r abRun) float64 { return r.cliCPU }
		srv := func(r abRun) float64 { return r.srvCPU }
		p("| %s | %.2f | %.2f | %.2f | %.2f |\n", r.c.title, r.med(0, cli), r.med(1, cli), r.med(0, srv), r.med(1, srv))
	}
	for _, r := range results {
		for i, e := range r.err {
			if e != "" {
				p("\n%s %s failed: %s\n", r.c.id, sides[i].name, e)
			}
		}
	}
	return sb.String()
}

func abVerdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "**MISS**"
}

func fmtMed(v float64, err string) string {
	if err != "" {
		return "failed"
	}
	return fmt.Sprintf("%.3f", v)
}

func fmtRuns(runs []abRun) string {
	s := make([]string, len(runs))
	for i, r := range runs {
		s[i] = fmt.Sprintf("%.3f", r.wall)
	}
	return strings.Join(s, ", ")
}

// cpuSnap is the machine's busy CPU time, the driver's own and linkem's at
// one moment, to tell how much of the machine something else used.
type cpuSnap struct {
	at                  time.Time
	busy, self, linkCPU float64 // seconds
}

func takeCPU(w *world) cpuSnap {
	s := cpuSnap{at: time.Now(), busy: machineBusy()}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.self = tv(ru.Utime) + tv(ru.Stime)
	}
	if w != nil && w.link != nil {
		s.linkCPU = w.link.cpu()
	}
	return s
}

// otherSince is the CPU, in cores, that processes other than the driver,
// linkem and the run's own (ours CPU-seconds) used since b. It includes
// kernel threads (writeback, for one), so it is not zero on an idle machine
// during a large write.
func (s cpuSnap) otherSince(b cpuSnap, ours float64) float64 {
	d := s.at.Sub(b.at).Seconds()
	if d <= 0 {
		return 0
	}
	o := (s.busy - b.busy) - (s.self - b.self) - (s.linkCPU - b.linkCPU) - ours
	return max(0, o/d)
}

// machineBusy is the non-idle CPU time of all CPUs from /proc/stat
// (user, nice, system, irq, softirq, steal), in seconds.
func machineBusy() float64 {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var busy float64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, _ := strconv.ParseFloat(f[i], 64)
		busy += v
	}
	return busy / 100 // USER_HZ
}

// quietGate holds each run back until the rest of the machine is nearly
// idle (other work on the 2 cores skews single runs by tens of percent),
// within a budget for the whole A/B.
type quietGate struct {
	limit  float64 // cores; 0 disables
	budget time.Duration
	waited time.Duration
	late   int // runs started with the machine still busy
}

func (g *quietGate) wait(ctx context.Context, w *world, b *bench) {
	if g.limit <= 0 {
		return
	}
	start := time.Now()
	defer func() { g.waited += time.Since(start) }()
	logged := false
	for ctx.Err() == nil {
		s := takeCPU(w)
		select {
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
			return
		}
		other := takeCPU(w).otherSince(s, 0)
		if other < g.limit {
			return
		}
		if g.waited+time.Since(start) >= g.budget {
			g.late++
			b.logf("  the rest of the machine uses %.2f cores; the -quiet-budget is spent, running anyway", other)
			return
		}
		if !logged {
			b.logf("  the rest of the machine uses %.2f cores: waiting for it to go under %.2f", other, g.limit)
			logged = true
		}
	}
}

// reniceSelf sets the nice value of every thread of the driver (Linux
// keeps it per thread); threads and processes started later inherit it.
func reniceSelf(n int) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, n); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("nice %d: %w", n, err)
		}
	}
	return nil
}

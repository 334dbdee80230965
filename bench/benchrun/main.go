//go:build linux

// Command benchrun is `make bench`: it measures qxfer against scp, rsync
// and a raw quic-go ceiling on loopback and on links emulated by linkem,
// runs the Go micro-benchmarks, and writes BENCHMARKS.md, bench/results.json
// and the goodput chart. See bench/README.md.
//
// It needs root (network namespaces, TUN devices, sshd). Environment:
//
//	BENCH_RUNS=3       runs per figure (the median is reported)
//	BENCH_QUICK=1      small files, one run, short deadlines: a smoke test
//	BENCH_ONLY=S2,S4   run only these scenarios (BENCHMARKS.md is then not written);
//	                   S7 is the Linux kernel tree (kernel.go; S7b, S7c... one case of it),
//	                   S8 delta transfer (delta.go; S8a, S8b, S8c one case of it), S9 a tree kept in step with --delete
//	                   and --exclude (tree_sync.go), S10 an S3 root against a POSIX root
//	                   (s3store.go), S11 a tree of 1,000,000 one-byte files (many.go)
//	BENCH_MANY_FILES=N the file count of S11's tree (default 1000000)
//	BENCH_TMPDIR=DIR   where the data goes (default: the system temp dir)
//	BENCH_QXFER=PATH   use this qxfer binary instead of building one
//	BENCH_S3_LIMIT=20s the S3 deadline; BENCH_S4_LIMIT=30s the scp -r deadline
//	BENCH_NO_APT=1     do not apt-get install missing peers
//
// `benchrun -report` measures nothing: it rewrites BENCHMARKS.md and the
// chart from bench/results.json (after a change to the report's layout or
// to bench/analysis.md).
//
// `benchrun -ab OLD_BIN,NEW_BIN [-runs 5]` measures nothing else: it times
// two qxfer binaries against each other, interleaved, on the cases of the
// no-regression criterion and prints a markdown table (see ab.go).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/qxfer/qxfer/bench/internal/netns"
)

// bench is one `make bench`.
type bench struct {
	repo      string // the main module's root
	runs      int
	quick     bool
	only      map[string]bool
	s3Limit   time.Duration
	s4Limit   time.Duration
	defaultCC string
	kit       kit
	sz        sizes
	data      dataset
	started   time.Time
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(1)
	}
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(b.started).Seconds(), fmt.Sprintf(format, args...))
}

// preflight checks that the bench can run here: as root, with a TUN
// device, from the repository root, which it keeps in b.repo. needRoot and
// notRepo are the errors for the first and the last check.
func (b *bench) preflight(needRoot, notRepo string) error {
	if os.Geteuid() != 0 {
		return errors.New(needRoot)
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return errors.New("needs /dev/net/tun")
	}
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(wd, "go.mod")); err != nil {
		return errors.New(notRepo)
	}
	b.repo = wd
	return nil
}

func envDuration(name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}

func run(ctx context.Context) error {
	b := &bench{runs: 3, started: time.Now(), only: map[string]bool{}}
	if len(os.Args) > 1 && os.Args[1] == "-report" {
		return b.rewrite(ctx)
	}
	if abRequested(os.Args[1:]) {
		return b.ab(ctx, os.Args[1:])
	}
	if gridRequested(os.Args[1:]) {
		return b.grid(ctx, os.Args[1:])
	}
	if err := b.preflight("needs root (network namespaces, TUN devices, sshd)\nhint: sudo make bench", "run from the repository root (make bench)"); err != nil {
		return err
	}
	b.quick = os.Getenv("BENCH_QUICK") != ""
	if b.quick {
		b.runs = 1
	}
	if v, err := strconv.Atoi(os.Getenv("BENCH_RUNS")); err == nil && v > 0 {
		b.runs = v
	}
	for _, s := range strings.Split(os.Getenv("BENCH_ONLY"), ",") {
		if s = strings.TrimSpace(strings.ToUpper(s)); s != "" {
			b.only[s] = true
		}
	}
	b.sz = sizes{big: 1 << 30, mid: 256 << 20, small: 4 << 10, medium: 1 << 20, treeDirs: 20, treeFiles: 100, mediumFiles: 64}
	b.s3Limit = envDuration("BENCH_S3_LIMIT", 20*time.Second)
	b.s4Limit = envDuration("BENCH_S4_LIMIT", 30*time.Second)
	if b.quick {
		b.sz = sizes{big: 64 << 20, mid: 32 << 20, small: 4 << 10, medium: 1 << 20, treeDirs: 5, treeFiles: 40, mediumFiles: 16}
		b.s3Limit = envDuration("BENCH_S3_LIMIT", 8*time.Second)
		b.s4Limit = envDuration("BENCH_S4_LIMIT", 8*time.Second)
	}

	if err := b.installPeers(ctx); err != nil {
		return err
	}
	if err := b.cleanHost(); err != nil {
		return err
	}
	restore, err := allowCC("bbr", "cubic")
	if err != nil {
		return err
	}
	defer restore()

	tmp := os.Getenv("BENCH_TMPDIR")
	b.kit.dir, err = os.MkdirTemp(tmp, "qxfer-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(b.kit.dir)
	if err := b.build(ctx); err != nil {
		return err
	}
	if err := b.kit.setup(ctx); err != nil {
		return err
	}
	b.logf("writing the source files in %s", b.kit.dir)
	if err := b.makeData(); err != nil {
		return err
	}
	rep := &Report{Machine: machineInfo(ctx, b), Runs: b.runs, Quick: b.quick, HasConns: b.kit.hasConns}
	err = b.scenarios(ctx, rep)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return err
	}
	if len(b.only) == 0 || b.only["MICRO"] {
		b.logf("micro-benchmarks")
		rep.Micro = microbench(ctx, b.repo, b.quick)
	}
	rep.Elapsed = time.Since(b.started).Seconds()
	return b.write(ctx, rep)
}

func (b *bench) want(id string) bool { return len(b.only) == 0 || b.only[id] }

// scenarios runs S1 to S11. S2, S4, S5, S6, S8 and S9 share one emulated link;
// S7 (the kernel tree) sets up its own.
func (b *bench) scenarios(ctx context.Context, rep *Report) error {
	if b.want("S1") {
		s, err := b.s1(ctx)
		if err != nil {
			return fmt.Errorf("S1: %w", err)
		}
		rep.Scenarios = append(rep.Scenarios, s)
	}
	clean := linkSpec{Delay: 25 * time.Millisecond, Rate: 200e6}
	if b.want("S2") || b.want("S4") || b.want("S5") || b.want("S6") || b.wantS8() || b.want("S9") {
		w, err := linkWorld(ctx, b.kit.linkem, clean)
		if err != nil {
			return err
		}
		defer w.close()
		b.logf("calibrating %s", clean)
		pings, interval := 20, "0.2"
		if b.quick {
			pings = 10
		}
		rep.Calib = b.calibrate(ctx, w, pings, interval, true)
		b.logf("  RTT %.2f ms (want %.0f), TCP %.1f Mbit/s goodput = %.1f Mbit/s of IP packets (want %.0f)",
			rep.Calib.RTTAvg, rep.Calib.WantRTT, rep.Calib.TCPGoodput, rep.Calib.TCPIPRate, rep.Calib.WantRate)
		overhead := 0.0
		if b.want("S2") {
			s := b.s2(ctx, w)
			rep.Scenarios = append(rep.Scenarios, s)
			overhead = wireOverhead(s)
		}
		if b.want("S4") && ctx.Err() == nil {
			rep.Scenarios = append(rep.Scenarios, b.s4(ctx, w))
		}
		if b.want("S5") && ctx.Err() == nil {
			rep.Scenarios = append(rep.Scenarios, b.s5(ctx, w))
		}
		if b.want("S6") && ctx.Err() == nil {
			if overhead == 0 {
				overhead = b.measureOverhead(ctx, w)
			}
			rep.Scenarios = append(rep.Scenarios, b.s6(ctx, w, overhead))
		}
		if b.wantS8() && ctx.Err() == nil {
			rep.Scenarios = append(rep.Scenarios, b.s8(ctx, w))
		}
		if b.want("S9") && ctx.Err() == nil {
			rep.Scenarios = append(rep.Scenarios, b.s9(ctx, w))
		}
	}
	if b.want("S3") && ctx.Err() == nil {
		lossy := clean
		lossy.Loss = 0.01
		w, err := linkWorld(ctx, b.kit.linkem, lossy)
		if err != nil {
			return err
		}
		defer w.close()
		b.logf("calibrating %s", lossy)
		pings := 400
		if b.quick {
			pings = 100
		}
		rep.CalibLossy = b.calibrate(ctx, w, pings, "0.01", false)
		b.logf("  RTT %.2f ms, ping loss %.2f%% (want %.2f%%)", rep.CalibLossy.RTTAvg, rep.CalibLossy.PingLoss*100, rep.CalibLossy.WantLoss*100)
		rep.Scenarios = append(rep.Scenarios, b.s3(ctx, w))
	}
	if b.wantS7() && ctx.Err() == nil {
		if err := b.s7(ctx, rep, clean); err != nil {
			return fmt.Errorf("S7: %w", err)
		}
	}
	if b.want("S10") && ctx.Err() == nil {
		s, err := b.s10(ctx)
		if err != nil {
			return fmt.Errorf("S10: %w", err)
		}
		rep.Scenarios = append(rep.Scenarios, s)
	}
	if b.want("S11") && ctx.Err() == nil {
		if err := b.s11(ctx, rep); err != nil {
			return fmt.Errorf("S11: %w", err)
		}
	}
	return nil
}

// rewrite regenerates the report from bench/results.json.
func (b *bench) rewrite(ctx context.Context) error {
	var err error
	if b.repo, err = os.Getwd(); err != nil {
		return err
	}
	data, err := os.ReadFile(filepath.Join(b.repo, "bench", "results.json"))
	if err != nil {
		return err
	}
	rep := new(Report)
	if err := json.Unmarshal(data, rep); err != nil {
		return err
	}
	return b.write(ctx, rep)
}

// wireOverhead is the IP bytes per payload byte of qxfer's S2 runs.
func wireOverhead(s *Scenario) float64 {
	for _, r := range s.Results {
		if r.Tool != "qxfer" || len(r.Runs) == 0 {
			continue
		}
		var wire, pay float64
		for _, run := range r.Runs {
			if run.Wire != nil {
				wire += float64(run.Wire.AB.OutBytes)
				pay += float64(run.Bytes)
			}
		}
		if pay > 0 {
			return wire / pay
		}
	}
	return 0
}

// measureOverhead pushes the mid-size file once when S2 did not run.
func (b *bench) measureOverhead(ctx context.Context, w *world) float64 {
	r, err := b.measure(ctx, w, tool{name: "qxfer", label: "qxfer"}, job{srcs: []string{b.data.mid}, bytes: b.sz.mid, files: 1})
	if err != nil || r.Wire == nil || r.Bytes == 0 {
		return 1
	}
	return float64(r.Wire.AB.OutBytes) / float64(r.Bytes)
}

// build compiles qxfer (from the working tree), linkem and quicperf into
// the run's temporary directory.
func (b *bench) build(ctx context.Context) error {
	bin := filepath.Join(b.kit.dir, "bin")
	b.kit.qxfer = os.Getenv("BENCH_QXFER")
	targets := map[string]*string{"./bench/linkem": &b.kit.linkem, "./bench/quicperf": &b.kit.quicperf}
	if b.kit.qxfer == "" {
		targets["./cmd/qxfer"] = &b.kit.qxfer
	} else if p, err := filepath.Abs(b.kit.qxfer); err == nil {
		b.kit.qxfer = p
	}
	for pkg, dst := range targets {
		*dst = filepath.Join(bin, filepath.Base(pkg))
		b.logf("go build -o %s %s", *dst, pkg)
		if _, err := runOut(ctx, "go", "build", "-o", *dst, pkg); err != nil {
			return err
		}
	}
	return nil
}

// installPeers installs ping, iperf3, OpenSSH and rsync from Debian when
// one of them is missing.
func (b *bench) installPeers(ctx context.Context) error {
	var missing bool
	for _, p := range []string{"ping", "iperf3", "ssh", "scp", "ssh-keygen", "rsync", "/usr/sbin/sshd"} {
		if _, err := exec.LookPath(p); err != nil {
			missing = true
		}
	}
	if !missing {
		return nil
	}
	if os.Getenv("BENCH_NO_APT") != "" {
		return errors.New("ping, iperf3, openssh or rsync is missing and BENCH_NO_APT is set")
	}
	b.logf("apt-get install iputils-ping iperf3 openssh-server openssh-client rsync")
	if _, err := runOut(ctx, "apt-get", "update"); err != nil {
		return err
	}
	c := exec.CommandContext(ctx, "apt-get", "install", "-y", "iputils-ping", "iperf3", "openssh-server", "openssh-client", "rsync")
	c.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get install: %w: %s", err, tail(string(out)))
	}
	return nil
}

// allowCC makes the congestion controls ccs settable inside network
// namespaces: outside the initial namespace Linux only accepts those in
// net.ipv4.tcp_allowed_congestion_control (here "reno bbr" by default).
// The returned function puts the list back.
func allowCC(ccs ...string) (func(), error) {
	const allowed = "/proc/sys/net/ipv4/tcp_allowed_congestion_control"
	const avail = "/proc/sys/net/ipv4/tcp_available_congestion_control"
	old, err := os.ReadFile(allowed)
	if err != nil {
		return nil, err
	}
	list := strings.Fields(string(old))
	for _, cc := range ccs {
		if a, _ := os.ReadFile(avail); !slices.Contains(strings.Fields(string(a)), cc) {
			exec.Command("modprobe", "tcp_"+cc).Run()
		}
		if !slices.Contains(list, cc) {
			list = append(list, cc)
		}
	}
	if err := os.WriteFile(allowed, []byte(strings.Join(list, " ")), 0o644); err != nil {
		return nil, fmt.Errorf("allow %v in namespaces: %w", ccs, err)
	}
	return func() { os.WriteFile(allowed, old, 0o644) }, nil
}

// writeJSON writes v to p, indented.
func writeJSON(p string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(p, append(data, '\n'), 0o644)
}

// cleanHost deletes the network namespaces earlier runs left and records
// the kernel's default TCP congestion control in b.defaultCC.
func (b *bench) cleanHost() error {
	if names, _ := netns.Cleanup(false); len(names) > 0 {
		b.logf("deleted %d namespaces left by earlier runs", len(names))
	}
	cc, err := os.ReadFile("/proc/sys/net/ipv4/tcp_congestion_control")
	if err != nil {
		return err
	}
	b.defaultCC = strings.TrimSpace(string(cc))
	return nil
}

//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The grid mode: `benchrun -grid -bins NAME=BIN,...` pushes files of
// several sizes over several lossy links with each named qxfer binary
// (with the --connections values of -conns) and with scp over TCP BBR,
// interleaved, and prints each qxfer's goodput as a ratio to scp's in
// the same round: the measure of issue 17's lossy-link target (auto >=
// 1.0x scp(bbr) from 32 MiB, >= 1.2x from 192 MiB, ramp included). See
// bench/README.md, "Lossy grid".

// gridRequested reports whether the command line asks for the grid mode.
func gridRequested(args []string) bool {
	return slices.ContainsFunc(args, func(a string) bool { return strings.TrimLeft(a, "-") == "grid" })
}

// gridLink parses "RTT:RATE:LOSS", e.g. "40ms:150mbit:0.01" (loss each
// way, a fraction).
func gridLink(s string) (linkSpec, error) {
	f := strings.Split(s, ":")
	if len(f) != 3 {
		return linkSpec{}, fmt.Errorf("link %q: want RTT:RATE:LOSS, e.g. 40ms:150mbit:0.01", s)
	}
	rtt, err := time.ParseDuration(f[0])
	if err != nil {
		return linkSpec{}, fmt.Errorf("link %q: %w", s, err)
	}
	mbit, err := strconv.ParseFloat(strings.TrimSuffix(f[1], "mbit"), 64)
	if err != nil {
		return linkSpec{}, fmt.Errorf("link %q: rate in mbit: %w", s, err)
	}
	loss, err := strconv.ParseFloat(f[2], 64)
	if err != nil || loss < 0 || loss >= 1 {
		return linkSpec{}, fmt.Errorf("link %q: loss must be a fraction in [0, 1)", s)
	}
	return linkSpec{Delay: rtt / 2, Rate: int64(mbit * 1e6), Loss: loss}, nil
}

// gridTool is one column of the grid: a qxfer binary with its own
// identities and arguments, or scp.
type gridTool struct {
	t   tool
	kit kit
}

func (b *bench) grid(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("benchrun -grid", flag.ContinueOnError)
	fs.Bool("grid", true, "the grid mode")
	binsFlag := fs.String("bins", "", "`NAME=BIN,...`: the qxfer binaries to compare")
	connsFlag := fs.String("conns", "auto", "comma-separated --connections values run with every binary")
	linksFlag := fs.String("links", "20ms:300mbit:0.005,40ms:150mbit:0.01,100ms:100mbit:0.02,150ms:200mbit:0.01", "comma-separated RTT:RATE:LOSS links")
	sizesFlag := fs.String("sizes", "32,48,192", "comma-separated file sizes in MiB")
	fs.IntVar(&b.runs, "runs", 1, "rounds (every tool once per round)")
	limit := fs.Duration("limit", 90*time.Second, "stop a run after this long")
	out := fs.String("out", "", "also write the markdown table to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *binsFlag == "" {
		return errors.New("-grid wants -bins NAME=BIN[,NAME=BIN]")
	}
	var links []linkSpec
	for _, s := range strings.Split(*linksFlag, ",") {
		l, err := gridLink(s)
		if err != nil {
			return err
		}
		links = append(links, l)
	}
	var sizesMiB []int64
	for _, s := range strings.Split(*sizesFlag, ",") {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("-sizes: %q is not a size in MiB", s)
		}
		sizesMiB = append(sizesMiB, n)
	}
	if err := b.preflight("needs root (network namespaces, TUN devices, sshd)", "run from the repository root"); err != nil {
		return err
	}
	if err := b.cleanHost(); err != nil {
		return err
	}
	restore, err := allowCC("bbr")
	if err != nil {
		return err
	}
	defer restore()
	b.kit.dir, err = os.MkdirTemp(os.Getenv("BENCH_TMPDIR"), "qxfer-grid-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(b.kit.dir)
	b.kit.linkem = filepath.Join(b.kit.dir, "bin", "linkem")
	if _, err := runOut(ctx, "go", "build", "-o", b.kit.linkem, "./bench/linkem"); err != nil {
		return err
	}
	if err := b.kit.setupSSH(ctx); err != nil {
		return err
	}
	var tools []gridTool
	for _, nb := range strings.Split(*binsFlag, ",") {
		name, bin, ok := strings.Cut(nb, "=")
		if !ok {
			return fmt.Errorf("-bins: %q is not NAME=BIN", nb)
		}
		k := b.kit
		if k.qxfer, err = filepath.Abs(bin); err != nil {
			return err
		}
		k.dir = filepath.Join(b.kit.dir, "side-"+name)
		if err := k.setupIdentity(ctx); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		for _, c := range strings.Split(*connsFlag, ",") {
			tools = append(tools, gridTool{t: tool{name: "qxfer", label: name + " " + c, args: []string{"--connections", c}}, kit: k})
		}
	}
	tools = append(tools, gridTool{t: tool{name: "scp", label: "scp (bbr)", cc: "bbr"}, kit: b.kit})

	srcs := map[int64]string{}
	for _, n := range sizesMiB {
		srcs[n] = filepath.Join(b.kit.dir, "src", fmt.Sprintf("f%d.bin", n))
		if err := writeRandom(srcs[n], n<<20, uint64(n)); err != nil {
			return err
		}
	}
	// goodput[link][size][tool] holds one figure per round.
	goodput := make([][][][]float64, len(links))
	for li, l := range links {
		goodput[li] = make([][][]float64, len(sizesMiB))
		w, err := linkWorld(ctx, b.kit.linkem, l)
		if err != nil {
			return err
		}
		for si, n := range sizesMiB {
			goodput[li][si] = make([][]float64, len(tools))
			j := job{srcs: []string{srcs[n]}, bytes: n << 20, files: 1, deadline: *limit}
			for round := range b.runs {
				for ti, gt := range tools {
					b.kit = gt.kit
					r, err := b.measure(ctx, w, gt.t, j)
					if err != nil {
						b.logf("%s, %d MiB, %s: %v", l, n, gt.t.label, err)
						continue
					}
					b.logf("%s, %d MiB, %s, round %d: %.1f Mbit/s in %.2f s", l, n, gt.t.label, round+1, r.Goodput, r.Wall)
					goodput[li][si][ti] = append(goodput[li][si][ti], r.Goodput)
				}
			}
			if ctx.Err() != nil {
				w.close()
				return ctx.Err()
			}
		}
		w.close()
	}
	md := gridReport(links, sizesMiB, tools, goodput, b.runs)
	fmt.Print(md)
	if *out != "" {
		return os.WriteFile(*out, []byte(md), 0o644)
	}
	return nil
}

// gridReport is one row per link and size: each tool's median goodput,
// and each qxfer's ratio to scp's median.
func gridReport(links []linkSpec, sizesMiB []int64, tools []gridTool, goodput [][][][]float64, runs int) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "Push goodput, Mbit/s (median of %d), and ratio to scp (bbr) in the same run.\n\n| link | size |", runs)
	scp := len(tools) - 1
	for _, gt := range tools {
		fmt.Fprintf(&sb, " %s |", gt.t.label)
	}
	for _, gt := range tools[:scp] {
		fmt.Fprintf(&sb, " %s / scp |", gt.t.label)
	}
	sb.WriteString("\n|---|---|" + strings.Repeat("---|", 2*len(tools)-1) + "\n")
	for li, l := range links {
		for si, n := range sizesMiB {
			fmt.Fprintf(&sb, "| %s | %d MiB |", l, n)
			med := make([]float64, len(tools))
			for ti := range tools {
				med[ti] = medianOf(goodput[li][si][ti])
				fmt.Fprintf(&sb, " %.1f |", med[ti])
			}
			for ti := range tools[:scp] {
				if med[scp] > 0 {
					fmt.Fprintf(&sb, " %.2fx |", med[ti]/med[scp])
				} else {
					sb.WriteString(" - |")
				}
			}
			sb.WriteString("\n")
		}
	}
	return sb.String()
}

//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// S8 measures issue 18's delta transfer: a file the server already holds
// in an older version is pushed again, by qxfer push -f (delta) and by
// rsync -a (its own delta, rolling checksum), over the clean link, and
// the IP bytes on the link both ways are counted.

// DeltaRun is one tool's push of one delta case.
type DeltaRun struct {
	Case string  `json:"case"`
	Tool string  `json:"tool"`
	Size int64   `json:"size"`   // the new version's bytes
	Wire uint64  `json:"wire"`   // IP bytes on the link, both directions
	Wall float64 `json:"wall_s"` // client start to exit
	// CPU is the user and system seconds of the client and the server
	// (an sshd with its rsync children), both processes' rusage: on a
	// shared machine the wall time follows the CPU a tool needs.
	CPU float64 `json:"cpu_s"`
}

// Frac is the wire bytes as a fraction of the file's size.
func (r DeltaRun) Frac() float64 { return float64(r.Wire) / float64(r.Size) }

// deltaCase is an old version on the server and the new one to push.
type deltaCase struct {
	name     string
	old, new string // paths; both have the same base name
}

// deltaCases writes the three cases of issue 18 under dir: 1 GiB of
// random data with 16 scattered edits of 64 KiB; a 512 MiB log with
// 8 MiB appended; 1 GiB with its first MiB removed (64 MiB and 32 MiB
// in quick mode).
func (b *bench) deltaCases(dir string) ([]deltaCase, error) {
	big, log := int64(1<<30), int64(512<<20)
	if b.quick {
		big, log = 64<<20, 32<<20
	}
	oldBig := filepath.Join(dir, "base", "big.img")
	if err := writeRandom(oldBig, big, 71); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(oldBig)
	if err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(71, 71))
	edited := append([]byte(nil), data...)
	for i := range 16 {
		span := len(edited) / 16
		off := i*span + r.IntN(span-64<<10)
		for k := off; k < off+64<<10; k++ {
			edited[k] = byte(r.Uint32())
		}
	}
	cases := []deltaCase{
		{name: "16 scattered 64 KiB edits", old: oldBig, new: filepath.Join(dir, "edits", "big.img")},
		{name: "first MiB removed", old: oldBig, new: filepath.Join(dir, "shift", "big.img")},
		{name: "8 MiB appended to a log", old: filepath.Join(dir, "base", "log.txt"), new: filepath.Join(dir, "append", "log.txt")},
	}
	if err := writeFile(cases[0].new, edited); err != nil {
		return nil, err
	}
	if err := writeFile(cases[1].new, data[1<<20:]); err != nil {
		return nil, err
	}
	if err := writeFile(cases[2].old, data[:log]); err != nil {
		return nil, err
	}
	add := make([]byte, 8<<20)
	for i := range add {
		add[i] = byte(r.Uint32())
	}
	if err := writeFile(cases[2].new, append(data[:log:log], add...)); err != nil {
		return nil, err
	}
	// The old versions are older: neither tool takes a new version for
	// up to date.
	for _, c := range cases {
		if err := os.Chtimes(c.old, time.Now(), time.Now().Add(-48*time.Hour)); err != nil {
			return nil, err
		}
	}
	// The cases' 4.5 GiB are written back now, not during the first
	// measured runs.
	syscall.Sync()
	return cases, nil
}

// wantDeltaCase says whether S8's case i (in deltaCases' order) is to
// run: BENCH_ONLY names S8 (every case), or the case's own id, S8a for
// the scattered edits, S8b for the shift, S8c for the append.
func (b *bench) wantDeltaCase(i int) bool {
	return b.want("S8") || b.only[fmt.Sprintf("S8%c", 'A'+i)]
}

// wantS8 says whether any S8 case is to run.
func (b *bench) wantS8() bool {
	return b.want("S8") || b.only["S8A"] || b.only["S8B"] || b.only["S8C"]
}

func writeFile(p string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, b, 0o644)
}

// s8 pushes each case's new version onto its old one, with qxfer -f and
// with rsync -a, b.runs times each, interleaved.
func (b *bench) s8(ctx context.Context, w *world) *Scenario {
	s := &Scenario{ID: "S8", Title: "Delta transfer of a changed file",
		What: "the server holds an older version; qxfer push -f (delta: content-defined chunks, BLAKE3) against rsync -a (rolling checksum), and rsync -a --fsync (made durable, as qxfer does)",
		Link: w.link.spec.String()}
	cases, err := b.deltaCases(filepath.Join(b.kit.dir, "src", "delta"))
	if err != nil {
		s.Notes = append(s.Notes, "could not write the cases: "+err.Error())
		return s
	}
	// rsync --fsync is shown beside the target's peer: qxfer reports a
	// file only once it is on disk, rsync -a leaves it in the page cache.
	tools := []tool{{name: "qxfer", label: "qxfer push -f", args: []string{"-f"}}, rsync,
		{name: "rsync", label: "rsync --fsync", args: []string{"--fsync"}}}
	for ci, c := range cases {
		if !b.wantDeltaCase(ci) {
			continue
		}
		for i := range b.runs {
			for _, t := range tools {
				if ctx.Err() != nil {
					return s
				}
				b.logf("S8 %s, %s, run %d/%d", c.name, t.label, i+1, b.runs)
				r, err := b.deltaOnce(ctx, w, t, c)
				if err != nil {
					s.Notes = append(s.Notes, fmt.Sprintf("%s, %s, run %d: %v", c.name, t.label, i+1, err))
					b.logf("S8: %v", err)
					continue
				}
				b.logf("  %.2f s (%.2f s of CPU), %.2f MiB on the wire (%.2f%% of %s)", r.Wall, r.CPU, float64(r.Wire)/(1<<20), 100*r.Frac(), size(r.Size))
				s.Delta = append(s.Delta, r)
			}
		}
	}
	return s
}

// deltaOnce puts c's old version in a fresh run directory of a fresh
// server of t, pushes the new version onto it, and checks the result.
func (b *bench) deltaOnce(ctx context.Context, w *world, t tool, c deltaCase) (DeltaRun, error) {
	r := DeltaRun{Case: c.name, Tool: t.label}
	fi, err := os.Stat(c.new)
	if err != nil {
		return r, err
	}
	r.Size = fi.Size()
	pr, err := b.startPushRun(ctx, w, t)
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(pr.dest)
	stopped := false
	defer func() {
		if !stopped {
			pr.srv.stop()
		}
	}()
	dst := filepath.Join(pr.dest, filepath.Base(c.new))
	if err := copyFile(dst, c.old); err != nil {
		return r, err
	}
	s0, err := w.link.stats(ctx)
	if err != nil {
		return r, err
	}
	j := job{srcs: []string{c.new}, bytes: r.Size, files: 1}
	cli, err := spawn(t.label, b.kit.clientCmd(w, t, j, pr.root, pr.sub, pr.fp), false)
	if err != nil {
		return r, err
	}
	if err := cli.wait(10 * time.Minute); err != nil {
		return r, fmt.Errorf("%s: %s", t.label, fmtErr(cli))
	}
	r.Wall = cli.wall.Seconds()
	time.Sleep(2 * w.link.spec.Delay) // the last packets land
	s1, err := w.link.stats(ctx)
	if err != nil {
		return r, err
	}
	r.Wire = s1.AB.OutBytes - s0.AB.OutBytes + s1.BA.OutBytes - s0.BA.OutBytes
	stopped = true
	r.CPU = cli.usage().CPU + pr.srv.stop().CPU
	if n, files := dirBytes(pr.dest); n != r.Size || files != 1 {
		return r, fmt.Errorf("the destination holds %d bytes in %d files, want %d in 1", n, files, r.Size)
	}
	if got, err := matchedBytes(pr.dest, c.new); err != nil || got != r.Size {
		return r, fmt.Errorf("%d of %d bytes match the new version (%v)", got, r.Size, err)
	}
	return r, nil
}

// copyFile copies src to dst with src's mtime, and syncs dst: the
// server's older version has long been on disk, so its writing must not
// still be under way (and be charged to the tool that fsyncs) when the
// measured push starts.
func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chtimes(dst, fi.ModTime(), fi.ModTime())
}

// deltaMedian is the median wire bytes and wall time of one tool's runs
// of one case, and how many runs there were.
func deltaMedian(s *Scenario, name, tool string) (wire, wall float64, size int64, n int) {
	wire, wall, _, size, n = deltaMedians(s, name, tool)
	return wire, wall, size, n
}

// deltaMedians is deltaMedian with the median CPU seconds too.
func deltaMedians(s *Scenario, name, tool string) (wire, wall, cpu float64, size int64, n int) {
	var wires, walls, cpus []float64
	for _, r := range s.Delta {
		if r.Case == name && r.Tool == tool {
			wires, walls, cpus, size = append(wires, float64(r.Wire)), append(walls, r.Wall), append(cpus, r.CPU), r.Size
		}
	}
	if len(wires) == 0 {
		return 0, 0, 0, 0, 0
	}
	return medianOf(wires), medianOf(walls), medianOf(cpus), size, len(wires)
}

// deltaOrder lists the cases and tools of s in the order they ran.
func deltaOrder(s *Scenario) (cases, tools []string) {
	seen := map[string]bool{}
	for _, r := range s.Delta {
		if !seen["c"+r.Case] {
			seen["c"+r.Case] = true
			cases = append(cases, r.Case)
		}
		if !seen["t"+r.Tool] {
			seen["t"+r.Tool] = true
			tools = append(tools, r.Tool)
		}
	}
	return cases, tools
}

// deltaMD is S8's table: per case and tool, the medians.
func deltaMD(w *strings.Builder, s *Scenario) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("Bytes on the wire are IP bytes both ways, counted by linkem; medians of the runs.\n\n")
	p("| case | tool | file | wire MiB | wire ÷ file | wall s | CPU s | runs |\n|---|---|---:|---:|---:|---:|---:|---:|\n")
	cases, tools := deltaOrder(s)
	for _, c := range cases {
		for _, t := range tools {
			wire, wall, cpu, n, runs := deltaMedians(s, c, t)
			if runs == 0 {
				p("| %s | %s | failed | | | | | 0 |\n", c, t)
				continue
			}
			p("| %s | %s | %s | %.2f | %.2f%% | %.2f | %.2f | %d |\n", c, t, size(n), wire/(1<<20), 100*wire/float64(n), wall, cpu, runs)
		}
	}
	p("\n")
	for _, n := range s.Notes {
		p("- %s\n", n)
	}
	if len(s.Notes) > 0 {
		p("\n")
	}
}

// deltaTargets checks issue 18's goals against S8's medians: the bytes
// on the wire of each case, and qxfer's time against rsync's for the
// scattered edits.
func deltaTargets(rep *Report) []Target {
	s := rep.scenario("S8")
	if s == nil {
		return nil
	}
	var ts []Target
	goals := []struct {
		name, target string
		limit        func(n int64) float64
		timed        bool
	}{
		{"16 scattered 64 KiB edits", "≤ 3% of the file on the wire, no slower than rsync", func(n int64) float64 { return 0.03 * float64(n) }, true},
		{"8 MiB appended to a log", "≤ 10 MiB on the wire", func(int64) float64 { return 10 << 20 }, false},
		{"first MiB removed", "≤ 3% of the file on the wire", func(n int64) float64 { return 0.03 * float64(n) }, false},
	}
	for _, g := range goals {
		wire, wall, n, runs := deltaMedian(s, g.name, "qxfer push -f")
		if runs == 0 {
			ts = append(ts, Target{Scenario: "S8", Target: g.name + ": " + g.target, Measured: "no qxfer run completed", Verdict: "n/a"})
			continue
		}
		pass := wire <= g.limit(n)
		measured := fmt.Sprintf("%.2f MiB (%.2f%%)", wire/(1<<20), 100*wire/float64(n))
		if g.timed {
			_, rwall, _, rruns := deltaMedian(s, g.name, rsync.label)
			if rruns == 0 {
				ts = append(ts, Target{Scenario: "S8", Target: g.name + ": " + g.target, Measured: measured + "; rsync failed", Verdict: "n/a"})
				continue
			}
			pass = pass && wall <= rwall
			measured += fmt.Sprintf(", %.2f s vs rsync's %.2f s", wall, rwall)
		}
		ts = append(ts, Target{Scenario: "S8", Target: g.name + ": " + g.target, Measured: measured, Verdict: verdict(pass)})
	}
	return ts
}

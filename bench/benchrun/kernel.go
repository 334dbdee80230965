//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/qxfer/qxfer/bench/internal/emu"
	"github.com/qxfer/qxfer/bench/internal/netns"
)

// The real tree of S7 (issue 17): the Linux kernel source as Debian ships
// it, a tree nobody here wrote (86,629 files in 5,760 directories, 1.49 GB
// for 6.12).
const (
	kernelPkg     = "linux-source-6.12"
	kernelTarball = "/usr/src/linux-source-6.12.tar.xz"
	kernelChanged = 50 // files changed for the "changed files" case
)

// kernelTree installs the package if its tarball is missing (unless
// BENCH_NO_APT) and extracts it once under the run's directory; it
// returns the tree's top directory.
func (b *bench) kernelTree(ctx context.Context) (string, error) {
	if _, err := os.Stat(kernelTarball); err != nil {
		if os.Getenv("BENCH_NO_APT") != "" {
			return "", fmt.Errorf("%s is missing and BENCH_NO_APT is set (apt-get install %s)", kernelTarball, kernelPkg)
		}
		b.logf("apt-get install %s", kernelPkg)
		c := exec.CommandContext(ctx, "apt-get", "install", "-y", kernelPkg)
		c.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := c.CombinedOutput(); err != nil {
			return "", fmt.Errorf("apt-get install %s: %w: %s", kernelPkg, err, tail(string(out)))
		}
	}
	dir := filepath.Join(b.kit.dir, "src", "kernel")
	top := filepath.Join(dir, kernelPkg)
	if _, err := os.Stat(top); err == nil {
		return top, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	b.logf("extracting %s", kernelTarball)
	if _, err := runOut(ctx, "tar", "-C", dir, "-xf", kernelTarball); err != nil {
		return "", err
	}
	return top, nil
}

// treeCase is one S7 measurement: a push of the tree into an empty
// directory, a pull of it, a push that finds every file up to date, or a
// push that finds kernelChanged files changed.
type treeCase struct {
	id, title string
	pull      bool
	// seeded: the destination holds the tree before the run (copied
	// with cp -a, so sizes and mtimes match), with changed of its files
	// then made different.
	seeded  bool
	changed int
}

// s7 measures the kernel tree with qxfer and rsync -a on loopback and on
// the clean 50 ms link: full push, full pull, no-op push and a push of
// kernelChanged changed files. Each case is a scenario of its own (S7a to
// S7h); BENCH_ONLY=S7 selects them all, BENCH_ONLY=S7b,S7c only those
// cases (and a world none of them is in is not set up). One run per tool
// and case unless BENCH_RUNS is set: a full copy of the tree takes
// minutes.
func (b *bench) s7(ctx context.Context, rep *Report, link linkSpec) error {
	top, err := b.kernelTree(ctx)
	if err != nil {
		return err
	}
	bytes, files := dirBytes(top)
	cases := []treeCase{
		{id: "a", title: "full push"},
		{id: "b", title: "full pull", pull: true},
		{id: "c", title: "no-op push (every file up to date)", seeded: true},
		{id: "d", title: fmt.Sprintf("push of %d changed files", kernelChanged), seeded: true, changed: kernelChanged},
	}
	runs := 1
	if os.Getenv("BENCH_RUNS") != "" {
		runs = b.runs
	}
	worlds := []struct {
		suffix string
		open   func() (*world, error)
	}{
		{"", loopbackWorld},
		{"link", func() (*world, error) { return linkWorld(ctx, b.kit.linkem, link) }},
	}
	caseID := func(wi, ci int) string { return fmt.Sprintf("S7%c", 'a'+wi*len(cases)+ci) }
	for wi, wd := range worlds {
		wanted := false
		for ci := range cases {
			wanted = wanted || b.wantCase(caseID(wi, ci))
		}
		if !wanted {
			continue
		}
		w, err := wd.open()
		if err != nil {
			return err
		}
		for ci, c := range cases {
			if ctx.Err() != nil {
				break
			}
			id := caseID(wi, ci)
			if !b.wantCase(id) {
				continue
			}
			s := &Scenario{ID: id, Title: "Linux kernel tree, " + c.title,
				What: fmt.Sprintf("%s: %d files, %s in %s, qxfer push/pull -r vs rsync -a", kernelPkg, files, size(bytes), top),
				Link: "loopback"}
			if w.link != nil {
				s.Link = w.link.spec.String()
			}
			// -l: the tree's symlinks stay symlinks, as rsync -a keeps
			// them (qxfer follows links to files by default, and the
			// destination would hold 50 more regular files than the
			// source).
			qx := tool{name: "qxfer", label: "qxfer", args: []string{"-l"}}
			if c.changed > 0 {
				qx.args = append(qx.args, "--force") // qxfer refuses to replace a file that differs without it
			}
			b.treeRuns(s, []tool{qx, rsync}, runs, func(t tool) (Run, error) {
				return b.measureTree(ctx, w, t, c, top, bytes, files)
			})
			for _, r := range s.Results {
				if m := r.Median; m.Wire != nil {
					s.Notes = append(s.Notes, fmt.Sprintf("%s: %.1f MB on the wire (both directions).", r.Label,
						float64(m.Wire.AB.OutBytes+m.Wire.BA.OutBytes)/1e6))
				}
			}
			rep.Scenarios = append(rep.Scenarios, s)
		}
		w.close()
	}
	return nil
}

// wantCase says whether the S7 case id (S7a...) is to run: BENCH_ONLY
// names S7 (every case), or id itself.
func (b *bench) wantCase(id string) bool {
	return b.want("S7") || b.only[strings.ToUpper(id)]
}

// wantS7 says whether any S7 case is to run.
func (b *bench) wantS7() bool {
	if b.want("S7") {
		return true
	}
	for id := range b.only {
		if strings.HasPrefix(id, "S7") {
			return true
		}
	}
	return false
}

// treeRuns measures each of tools runs times, interleaved, with measure,
// and records every run and the median in s's results (one per tool,
// added here); a failed run is logged and recorded as the result's error.
func (b *bench) treeRuns(s *Scenario, tools []tool, runs int, measure func(tool) (Run, error)) {
	for _, t := range tools {
		s.Results = append(s.Results, &Result{Label: t.label, Tool: t.name})
	}
	for i := range runs {
		for _, t := range tools {
			res := s.result(t.label)
			b.logf("%s %s run %d/%d", s.ID, t.label, i+1, runs)
			r, err := measure(t)
			if err != nil {
				res.Err = err.Error()
				b.logf("%s %s: %v", s.ID, t.label, err)
				continue
			}
			b.logf("  %.2f s, client %.2f CPU-s %s, server %.2f CPU-s %s", r.Wall, r.Client.CPU, mib(r.Client.RSS), r.Server.CPU, mib(r.Server.RSS))
			res.Runs = append(res.Runs, r)
			res.Median = median(res.Runs)
		}
	}
}

// measureTree runs one transfer of the tree top for case c with t in w,
// and checks the destination holds every byte of it.
//
// r is a named result: the deferred reads of the wire counters fill
// r.Wire after the return statement.
func (b *bench) measureTree(ctx context.Context, w *world, t tool, c treeCase, top string, bytes int64, files int) (r Run, err error) {
	srvRoot := filepath.Join(b.kit.dir, "srv-root")
	runSeq++
	sub := fmt.Sprintf("run%d", runSeq)
	dest := filepath.Join(srvRoot, sub) // where the tree lands: dest/<top's name>
	if c.pull {
		srvRoot = filepath.Dir(top)
		dest = filepath.Join(b.kit.dir, "pulled", sub)
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return r, err
	}
	defer os.RemoveAll(dest)
	if c.seeded {
		if _, err := runOut(ctx, "cp", "-a", top, dest+"/"); err != nil {
			return r, err
		}
		if err := changeFiles(filepath.Join(dest, filepath.Base(top)), c.changed); err != nil {
			return r, err
		}
	}
	srv, fp, err := b.kit.startServer(ctx, w, t, srvRoot)
	if err != nil {
		return r, err
	}
	defer srv.p.kill()
	if w.link == nil {
		// Loopback: what the namespace's lo sent (every packet of both
		// directions, IP headers included, as linkem counts them).
		before, err := loBytes(w.nsClient)
		if err != nil {
			return r, err
		}
		defer func() {
			if after, err := loBytes(w.nsClient); err == nil {
				r.Wire = &emu.Stats{AB: emu.Counters{OutBytes: after - before}}
			}
		}()
	}
	if w.link != nil {
		before, err := w.link.stats(ctx)
		if err != nil {
			return r, err
		}
		defer func() {
			if after, err := w.link.stats(ctx); err == nil {
				d := after.Sub(before)
				r.Wire = &d
			}
		}()
	}
	var cmd *exec.Cmd
	switch {
	case !c.pull:
		cmd = b.kit.clientCmd(w, t, job{srcs: []string{top}, recursive: true}, srvRoot, sub, fp)
	case t.name == "qxfer":
		args := []string{"pull", "-q", "-r", "--log-level", "warn", "--log-format", "console", "--fingerprint", fp}
		args = append(args, t.args...)
		args = append(args, w.addr+":4433:"+filepath.Base(top), dest+"/")
		cmd = inNS(w.nsClient, []string{"QXFER_HOME=" + b.kit.clientHome}, b.kit.qxfer, args...)
	default:
		args := []string{"-a", "-e", "ssh " + strings.Join(b.kit.sshCmd(), " ")}
		args = append(args, t.args...)
		args = append(args, "root@"+w.addr+":"+top, dest+"/")
		cmd = inNS(w.nsClient, nil, "rsync", args...)
	}
	cli, err := spawn(t.label, cmd, false)
	if err != nil {
		return r, err
	}
	defer cli.killTree()
	select {
	case <-cli.done:
	case <-ctx.Done():
		return r, ctx.Err()
	}
	r.Wall = cli.wall.Seconds()
	if cli.err != nil {
		return r, fmt.Errorf("%s: %s", t.label, fmtErr(cli))
	}
	r.Client = cli.usage()
	r.Server = srv.stop()
	n, got := dirBytes(filepath.Join(dest, filepath.Base(top)))
	if n != bytes || got != files {
		return r, fmt.Errorf("%s: destination holds %d bytes in %d files, want %d in %d", t.label, n, got, bytes, files)
	}
	if c.changed > 0 {
		// The changed files must be the source's again.
		if err := sameTree(top, filepath.Join(dest, filepath.Base(top)), c.changed); err != nil {
			return r, fmt.Errorf("%s: %w", t.label, err)
		}
	}
	r.Bytes = bytes
	if !c.seeded {
		r.Goodput = float64(bytes) * 8 / r.Wall / 1e6
	}
	return r, nil
}

// loBytes is the byte count the lo device of namespace ns has sent
// (/proc/net/dev as seen from inside it).
func loBytes(ns string) (uint64, error) {
	out, err := netns.Command(ns, "cat", "/proc/net/dev").Output()
	if err != nil {
		return 0, fmt.Errorf("read /proc/net/dev in %s: %w", ns, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || name != "lo" {
			continue
		}
		// receive: bytes packets errs drop fifo frame compressed
		// multicast; transmit: bytes ...
		if f := strings.Fields(rest); len(f) >= 9 {
			return strconv.ParseUint(f[8], 10, 64)
		}
	}
	return 0, fmt.Errorf("no lo in /proc/net/dev of %s", ns)
}

// changedFiles is the n files changeFiles changes: the first n regular
// files of the tree in name order.
func changedFiles(dir string, n int) ([]string, error) {
	var out []string
	errDone := errors.New("done")
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			out = append(out, p)
			if len(out) == n {
				return errDone
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errDone) {
		return nil, err
	}
	sort.Strings(out)
	return out, nil
}

// changeFiles makes n files of the destination tree dir differ from the
// source: each is cut to half its length, with an mtime an hour older.
func changeFiles(dir string, n int) error {
	if n == 0 {
		return nil
	}
	paths, err := changedFiles(dir, n)
	if err != nil {
		return err
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if err := os.Truncate(p, fi.Size()/2); err != nil {
			return err
		}
		old := fi.ModTime().Add(-time.Hour)
		if err := os.Chtimes(p, old, old); err != nil {
			return err
		}
	}
	return nil
}

// sameTree checks that the n files changeFiles changed in dst are the
// source's again: same length and bytes.
func sameTree(src, dst string, n int) error {
	paths, err := changedFiles(dst, n)
	if err != nil {
		return err
	}
	for _, p := range paths {
		rel, err := filepath.Rel(dst, p)
		if err != nil {
			return err
		}
		a, err := os.ReadFile(filepath.Join(src, rel))
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if string(a) != string(b) {
			return fmt.Errorf("%s was not brought up to date", rel)
		}
	}
	return nil
}

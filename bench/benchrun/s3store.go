//go:build linux

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/qxfer/qxfer/bench/internal/netns"
)

// S10 (issue 16): pushes to an S3 root against the same pushes to a
// POSIX root, in one run, on loopback: the 1 GiB file and the tree of
// 2,000 small files of S4. The store is versitygw (the tests' store,
// installed by make tools into .tools/), started by the bench in the
// scenario's namespace on a loopback port, serving a directory of the
// bench's temporary directory; its CPU time during each run is read from
// /proc/PID/stat, since it serves the whole scenario.

// s3gw is the versitygw of S10.
type s3gw struct {
	p           *proc
	port        string
	dir         string // the data directory: bucket b is dir/b
	bucket      string
	key, secret string
}

// versitygwBin finds versitygw: on PATH, else in the repository's .tools/,
// installed there by make tools if missing.
func (b *bench) versitygwBin(ctx context.Context) (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	p := filepath.Join(b.repo, ".tools", "versitygw")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	b.logf("installing versitygw (make tools)")
	if out, err := exec.CommandContext(ctx, "make", "-C", b.repo, "tools").CombinedOutput(); err != nil {
		return "", fmt.Errorf("make tools: %w: %s", err, tail(string(out)))
	}
	return p, nil
}

// startS3gw starts versitygw in w's server namespace on 127.0.0.1:7070
// with an empty bucket and fresh keys, and waits until it accepts
// connections.
func (b *bench) startS3gw(ctx context.Context, w *world) (*s3gw, error) {
	bin, err := b.versitygwBin(ctx)
	if err != nil {
		return nil, err
	}
	g := &s3gw{port: "7070", dir: filepath.Join(b.kit.dir, "s3data"), bucket: "bench", key: randHex(8), secret: randHex(16)}
	if err := os.MkdirAll(filepath.Join(g.dir, g.bucket), 0o755); err != nil {
		return nil, err
	}
	c := inNS(w.nsServer, []string{"ROOT_ACCESS_KEY=" + g.key, "ROOT_SECRET_KEY=" + g.secret},
		bin, "--port", "127.0.0.1:"+g.port, "--quiet", "posix", g.dir)
	if g.p, err = spawn("versitygw", c, false); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := netns.Do(w.nsServer, func() error {
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+g.port, time.Second)
			if err == nil {
				c.Close()
			}
			return err
		})
		switch {
		case err == nil:
			return g, nil
		case g.p.exited() || time.Now().After(deadline):
			g.p.kill()
			return nil, fmt.Errorf("versitygw did not start: %v: %s", err, tail(g.p.errb.String()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// cpu is versitygw's CPU seconds so far.
func (g *s3gw) cpu() float64 { return cpuSeconds(g.p.pid()) }

// s3Run is one S10 push: the run, and the store's CPU seconds during it.
type s3Run struct {
	run      Run
	storeCPU float64
}

// measureS3 pushes j with qxfer to a fresh server whose root is
// s3://bench/root (the objects under root/runN), and checks that the
// objects are the files: versitygw keeps object K as the file dir/K.
func (b *bench) measureS3(ctx context.Context, w *world, g *s3gw, t tool, j job) (s3Run, error) {
	var r s3Run
	runSeq++
	sub := fmt.Sprintf("run%d", runSeq)
	dest := filepath.Join(g.dir, g.bucket, "root", sub)
	defer os.RemoveAll(dest)
	env := []string{"QXFER_HOME=" + b.kit.serverHome, "AWS_ACCESS_KEY_ID=" + g.key, "AWS_SECRET_ACCESS_KEY=" + g.secret}
	c := inNS(w.nsServer, env, b.kit.qxfer, "serve", "--root", "s3://"+g.bucket+"/root", "--s3-endpoint", "http://127.0.0.1:"+g.port,
		"--s3-region", "us-east-1", "--listen", w.addr+":4433", "--log-level", "warn", "--log-format", "console")
	sp, err := spawn("qxfer serve (S3)", c, false)
	if err != nil {
		return r, err
	}
	defer sp.kill()
	line, err := sp.out.waitLine(ctx, "fingerprint", 20*time.Second)
	if err != nil {
		return r, fmt.Errorf("qxfer serve (S3): %w: %s", err, tail(sp.errb.String()))
	}
	f := strings.Fields(line)
	fp := f[len(f)-1]
	cpu0 := g.cpu()
	cli, err := spawnWait(ctx, t.label, b.kit.clientCmd(w, t, j, "", sub, fp))
	if err != nil {
		return r, err
	}
	r.run.Wall = cli.wall.Seconds()
	r.storeCPU = g.cpu() - cpu0
	if cli.err != nil {
		return r, fmt.Errorf("%s: %s", t.label, fmtErr(cli))
	}
	r.run.Client = cli.usage()
	sp.stop(syscall.SIGINT)
	r.run.Server = sp.usage()
	n, files := dirBytes(dest)
	if n != j.bytes || files != j.files {
		return r, fmt.Errorf("%s: the bucket holds %d bytes in %d objects under %s, want %d in %d", t.label, n, files, sub, j.bytes, j.files)
	}
	r.run.Bytes = n
	r.run.Goodput = float64(n) * 8 / r.run.Wall / 1e6
	return r, nil
}

// s10 measures, for the 1 GiB file and the 2,000-file tree, qxfer pushes
// to a POSIX root and to an S3 root, interleaved, b.runs times each; the
// notes give the S3/POSIX ratios of the medians and the store's CPU.
func (b *bench) s10(ctx context.Context) (*Scenario, error) {
	n := b.sz.treeDirs * b.sz.treeFiles
	s := &Scenario{ID: "S10", Title: "S3 store against a POSIX root",
		What: fmt.Sprintf("qxfer push of one %s file and of a tree of %d files of %s to a POSIX root and to an S3 root (versitygw, posix backend, on the same disk), loopback",
			size(b.sz.big), n, size(b.sz.small)),
		Link: "loopback"}
	w, err := loopbackWorld()
	if err != nil {
		return nil, err
	}
	defer w.close()
	g, err := b.startS3gw(ctx, w)
	if err != nil {
		return nil, err
	}
	defer g.p.kill()
	jobs := []struct {
		name string
		j    job
	}{
		{size(b.sz.big), job{srcs: []string{b.data.big}, bytes: b.sz.big, files: 1}},
		{fmt.Sprintf("%d files", n), job{srcs: []string{b.data.tree}, recursive: true, bytes: int64(n) * b.sz.small, files: n, fileSize: b.sz.small}},
	}
	qx := tool{name: "qxfer", label: "qxfer"}
	for _, jb := range jobs {
		posix := &Result{Label: "qxfer, POSIX root, " + jb.name, Tool: "qxfer"}
		s3 := &Result{Label: "qxfer, S3 root, " + jb.name, Tool: "qxfer"}
		s.Results = append(s.Results, posix, s3)
		var storeCPU []float64
		for i := range b.runs {
			if ctx.Err() != nil {
				break
			}
			b.logf("S10 %s run %d/%d", posix.Label, i+1, b.runs)
			if r, err := b.measure(ctx, w, qx, jb.j); err != nil {
				posix.Err = err.Error()
				b.logf("S10 %s: %v", posix.Label, err)
			} else {
				b.logf("  %.2f s, %.1f Mbit/s, client %.2f CPU-s, server %.2f CPU-s", r.Wall, r.Goodput, r.Client.CPU, r.Server.CPU)
				posix.Runs = append(posix.Runs, r)
				posix.Median = median(posix.Runs)
			}
			b.logf("S10 %s run %d/%d", s3.Label, i+1, b.runs)
			if r, err := b.measureS3(ctx, w, g, qx, jb.j); err != nil {
				s3.Err = err.Error()
				b.logf("S10 %s: %v", s3.Label, err)
			} else {
				b.logf("  %.2f s, %.1f Mbit/s, client %.2f CPU-s, server %.2f CPU-s, store %.2f CPU-s", r.run.Wall, r.run.Goodput, r.run.Client.CPU, r.run.Server.CPU, r.storeCPU)
				s3.Runs = append(s3.Runs, r.run)
				s3.Median = median(s3.Runs)
				storeCPU = append(storeCPU, r.storeCPU)
			}
		}
		if ok(posix) && ok(s3) {
			p, q := posix.Median, s3.Median
			slices.Sort(storeCPU)
			st := storeCPU[len(storeCPU)/2]
			s.Notes = append(s.Notes, fmt.Sprintf("%s, S3/POSIX: wall %.2fx (%.2f s / %.2f s), qxfer server CPU %.2fx (%.2f / %.2f CPU-s), client CPU %.2fx; the store (versitygw) used %.2f CPU-s more, so the S3 side's server CPU with the store's is %.2fx POSIX's",
				jb.name, p2(q.Wall, p.Wall), q.Wall, p.Wall, p2(q.Server.CPU, p.Server.CPU), q.Server.CPU, p.Server.CPU, p2(q.Client.CPU, p.Client.CPU),
				st, p2(q.Server.CPU+st, p.Server.CPU)))
		}
	}
	return s, nil
}

// p2 is a/b, or 0 when b is 0.
func p2(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

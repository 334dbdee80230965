//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/qxfer/qxfer/bench/internal/emu"
)

// Run is one transfer's figures.
type Run struct {
	Wall      float64    `json:"wall_s"`       // client start to exit, or to the deadline
	Bytes     int64      `json:"bytes"`        // payload that reached the destination
	Goodput   float64    `json:"goodput_mbps"` // Bytes*8/Wall, Mbit/s
	Bounded   bool       `json:"bounded"`      // stopped at the deadline
	Client    Usage      `json:"client"`
	Server    Usage      `json:"server"`
	Wire      *emu.Stats `json:"wire,omitempty"`        // linkem counters during the run
	LinkCPU   float64    `json:"linkem_cpu_s"`          // linkem's CPU during the run
	Projected float64    `json:"projected_s,omitempty"` // bounded tree runs: time for every file at the rate reached
}

var runSeq int

// pushRun is one push's fresh run directory and the server it goes to.
type pushRun struct {
	root string // the server's root
	sub  string // the run directory's name under root
	dest string // the run directory
	srv  *server
	fp   string // the server's fingerprint
}

// startPushRun makes a fresh run directory srv-root/runN and starts a
// server of t on srv-root. The caller removes dest and stops srv.
func (b *bench) startPushRun(ctx context.Context, w *world, t tool) (pushRun, error) {
	root := filepath.Join(b.kit.dir, "srv-root")
	runSeq++
	sub := fmt.Sprintf("run%d", runSeq)
	dest := filepath.Join(root, sub)
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return pushRun{}, err
	}
	srv, fp, err := b.kit.startServer(ctx, w, t, root)
	if err != nil {
		os.RemoveAll(dest)
		return pushRun{}, err
	}
	return pushRun{root: root, sub: sub, dest: dest, srv: srv, fp: fp}, nil
}

// measure runs one transfer of j with t in w: a fresh server, the client
// as a child, and the deadline if j has one. At the deadline the server
// tree is frozen (SIGSTOP) while the destination is measured, then the
// client is killed.
func (b *bench) measure(ctx context.Context, w *world, t tool, j job) (Run, error) {
	var r Run
	if t.cc != "" {
		if err := w.setCC(ctx, t.cc); err != nil {
			return r, err
		}
		defer w.setCC(context.WithoutCancel(ctx), b.defaultCC)
	}
	pr, err := b.startPushRun(ctx, w, t)
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(pr.dest)
	defer pr.srv.p.kill()
	var before emu.Stats
	var linkCPU float64
	if w.link != nil {
		if before, err = w.link.stats(ctx); err != nil {
			return r, err
		}
		linkCPU = w.link.cpu()
	}
	cli, err := spawn(t.label, b.kit.clientCmd(w, t, j, pr.root, pr.sub, pr.fp), false)
	if err != nil {
		return r, err
	}
	defer cli.killTree()
	var deadline <-chan time.Time
	if j.deadline > 0 {
		tm := time.NewTimer(j.deadline)
		defer tm.Stop()
		deadline = tm.C
	}
	select {
	case <-cli.done:
		r.Wall = cli.wall.Seconds()
		if cli.err != nil {
			return r, fmt.Errorf("%s: %s", t.label, fmtErr(cli))
		}
	case <-deadline:
		r.Bounded = true
		r.Wall = time.Since(cli.start).Seconds()
		if t.name == "quicperf" {
			pr.srv.p.stop(syscall.SIGTERM) // its exit line has the bytes read by now
			r.Bytes = quicperfTotal(pr.srv.p)
		} else {
			pr.srv.p.signalTree(syscall.SIGSTOP)
			if len(j.srcs) == 1 && !j.recursive {
				r.Bytes, err = matchedBytes(pr.dest, j.srcs[0])
			} else {
				done := completeFiles(pr.dest, j.fileSize)
				r.Bytes = int64(done) * j.fileSize
				if done > 0 {
					r.Projected = r.Wall * float64(j.files) / float64(done)
				}
			}
			pr.srv.p.signalTree(syscall.SIGCONT)
			if err != nil {
				return r, err
			}
		}
		cli.killTree()
	case <-ctx.Done():
		return r, ctx.Err()
	}
	r.Client = cli.usage()
	if w.link != nil {
		after, err := w.link.stats(ctx)
		if err != nil {
			return r, err
		}
		d := after.Sub(before)
		r.Wire = &d
		r.LinkCPU = w.link.cpu() - linkCPU
	}
	r.Server = pr.srv.stop()
	if !r.Bounded {
		switch t.name {
		case "quicperf":
			r.Bytes = quicperfTotal(pr.srv.p)
		default:
			n, files := dirBytes(pr.dest)
			if n != j.bytes || files != j.files {
				return r, fmt.Errorf("%s: destination holds %d bytes in %d files, want %d in %d", t.label, n, files, j.bytes, j.files)
			}
			r.Bytes = n
		}
	}
	r.Goodput = float64(r.Bytes) * 8 / r.Wall / 1e6
	return r, nil
}

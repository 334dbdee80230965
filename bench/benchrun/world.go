//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/qxfer/qxfer/bench/internal/netns"
)

// world is where a scenario's transfers run: the client's and the server's
// namespaces (the same one for loopback), the server's address, and the
// emulated link between them, if any.
type world struct {
	nsClient, nsServer string
	addr               string    // the server's IP address
	link               *linkProc // nil on loopback
	ownNS              string    // a namespace the world created itself (loopback)
}

// loopbackWorld is one fresh namespace: client and server talk over its lo.
func loopbackWorld() (*world, error) {
	ns := netns.NewBase() + "-lo"
	if err := netns.Add(ns); err != nil {
		return nil, err
	}
	return &world{nsClient: ns, nsServer: ns, addr: "127.0.0.1", ownNS: ns}, nil
}

func linkWorld(ctx context.Context, linkem string, s linkSpec) (*world, error) {
	l, err := startLink(ctx, linkem, s)
	if err != nil {
		return nil, err
	}
	return &world{nsClient: l.NSA, nsServer: l.NSB, addr: "10.77.0.2", link: l}, nil
}

func (w *world) close() {
	if w.link != nil {
		w.link.close()
	}
	if w.ownNS != "" {
		netns.Delete(w.ownNS)
	}
}

// setCC sets the TCP congestion control of both namespaces.
func (w *world) setCC(ctx context.Context, cc string) error {
	for _, ns := range uniq(w.nsClient, w.nsServer) {
		if _, err := runOut(ctx, "ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.tcp_congestion_control="+cc); err != nil {
			return err
		}
	}
	return nil
}

func uniq(a, b string) []string {
	if a == b {
		return []string{a}
	}
	return []string{a, b}
}

// inNS returns a command running bin with args in namespace ns, with env
// added to the driver's environment.
func inNS(ns string, env []string, bin string, args ...string) *exec.Cmd {
	c := netns.Command(ns, bin, args...)
	c.Env = append(os.Environ(), env...)
	return c
}

// server is one run's server process.
type server struct {
	p    *proc
	kind string // "qxfer", "sshd", "quicperf"
}

// stop ends the server and returns its cost. An sshd is given time to reap
// its session processes first, so their CPU lands in its rusage.
func (s *server) stop() Usage {
	switch s.kind {
	case "sshd":
		deadline := time.Now().Add(10 * time.Second)
		for len(descendants(s.p.pid())) > 1 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		s.p.stop(syscall.SIGTERM)
	default:
		s.p.stop(syscall.SIGINT)
	}
	return s.p.usage()
}

// dirBytes sums the sizes of the regular files under dir.
func dirBytes(dir string) (n int64, files int) {
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
				files++
			}
		}
		return nil
	})
	return n, files
}

// completeFiles counts the files under dir of exactly size bytes whose
// names are not temporary (no leading dot).
func completeFiles(dir string, size int64) int {
	n := 0
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && !strings.HasPrefix(d.Name(), ".") {
			if fi, err := d.Info(); err == nil && fi.Size() == size {
				n++
			}
		}
		return nil
	})
	return n
}

// matchedBytes returns the most bytes any regular file under dir holds in
// common with src, compared in 4 KiB blocks at the same offsets. It counts
// what really arrived whatever the receiver's layout: a growing file, a
// temporary name, or a .part preallocated to full size and filled in
// stripes (unwritten blocks read as zeros, which random data never is).
func matchedBytes(dir, src string) (int64, error) {
	var best int64
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		n, err := sameBlocks(p, src)
		if err != nil {
			return err
		}
		best = max(best, n)
		return nil
	})
	return best, err
}

func sameBlocks(a, b string) (int64, error) {
	fa, err := os.Open(a)
	if err != nil {
		return 0, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return 0, err
	}
	defer fb.Close()
	const blk = 4096
	ba, bb := make([]byte, 256*blk), make([]byte, 256*blk)
	var same int64
	for {
		na, erra := io.ReadFull(fa, ba)
		nb, errb := io.ReadFull(fb, bb)
		n := min(na, nb)
		for off := 0; off < n; off += blk {
			e := min(off+blk, n)
			if bytes.Equal(ba[off:e], bb[off:e]) {
				same += int64(e - off)
			}
		}
		if erra != nil || errb != nil {
			return same, nil
		}
	}
}

func fmtErr(p *proc) string {
	return fmt.Sprintf("%v\nstdout:\n%s\nstderr:\n%s", p.err, tail(p.out.String()), tail(p.errb.String()))
}

func tail(s string) string {
	if len(s) > 2000 {
		return "..." + s[len(s)-2000:]
	}
	return s
}

//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Usage is what one side of a transfer cost.
type Usage struct {
	CPU float64 `json:"cpu_s"`     // user + system seconds, waited-for children included
	RSS int64   `json:"rss_bytes"` // peak resident set, see tree
}

// proc is a child process with a sampler that follows its process tree.
type proc struct {
	name  string
	cmd   *exec.Cmd
	start time.Time
	tree  *tree
	out   *lineBuf // stdout
	errb  *lineBuf // stderr
	done  chan struct{}
	err   error // set before done closes
	wall  time.Duration
}

// lineBuf collects output and lets callers wait for a line.
type lineBuf struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines chan string
}

func newLineBuf() *lineBuf { return &lineBuf{lines: make(chan string, 1024)} }

func (l *lineBuf) feed(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l.mu.Lock()
		l.buf.WriteString(sc.Text() + "\n")
		l.mu.Unlock()
		select {
		case l.lines <- sc.Text():
		default:
		}
	}
	close(l.lines)
}

func (l *lineBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitLine returns the first line containing substr.
func (l *lineBuf) waitLine(ctx context.Context, substr string, timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case s, ok := <-l.lines:
			if !ok {
				return "", fmt.Errorf("output ended before %q", substr)
			}
			if strings.Contains(s, substr) {
				return s, nil
			}
		case <-t.C:
			return "", fmt.Errorf("no %q within %v", substr, timeout)
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// spawn starts cmd with its output captured and its tree sampled. The
// child is killed if the driver dies (Pdeathsig).
func spawn(name string, cmd *exec.Cmd, excludeRoot bool) (*proc, error) {
	p := &proc{name: name, cmd: cmd, out: newLineBuf(), errb: newLineBuf(), done: make(chan struct{})}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	so, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	se, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { p.out.feed(so) })
	wg.Go(func() { p.errb.feed(se) })
	p.tree = watchTree(cmd.Process.Pid, excludeRoot)
	go func() {
		wg.Wait() // pipes must be drained before Wait
		p.err = cmd.Wait()
		p.wall = time.Since(p.start)
		p.tree.stop()
		close(p.done)
	}()
	return p, nil
}

// spawnWait runs cmd as spawn(name, cmd, false) does and waits until it
// exits or ctx ends. It returns the exited process; or, when ctx ends
// first, context.Cause(ctx), once the process and every descendant (an
// ssh that rsync or scp started) are killed (killTree).
func spawnWait(ctx context.Context, name string, cmd *exec.Cmd) (*proc, error) {
	p, err := spawn(name, cmd, false)
	if err != nil {
		return nil, err
	}
	defer p.killTree()
	select {
	case <-p.done:
		return p, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has been waited for.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits for the exit, at most timeout, then kills.
func (p *proc) wait(timeout time.Duration) error {
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s: killed after %v", p.name, timeout)
	}
	return p.err
}

// stop sends sig and waits up to 10 s, then kills.
func (p *proc) stop(sig syscall.Signal) {
	if p.exited() {
		return
	}
	p.cmd.Process.Signal(sig)
	p.wait(10 * time.Second)
}

// killTree kills the process and every descendant (scp's ssh, rsync's
// ssh) and waits for the process.
func (p *proc) killTree() {
	if !p.exited() {
		p.signalTree(syscall.SIGKILL)
	}
	<-p.done
}

// kill kills the process (not its children) and waits for it.
func (p *proc) kill() {
	if !p.exited() {
		p.cmd.Process.Kill()
	}
	<-p.done
}

// usage reads the cost after exit: CPU from wait4's rusage (the process and
// every descendant it waited for), peak RSS from the tree sampler (see
// tree). ru_maxrss is not used: Linux carries the parent's high-water mark
// over an exec, and Go starts children with a vfork-style clone, so a small
// child would report the driver's own size.
func (p *proc) usage() Usage {
	<-p.done
	var u Usage
	if ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		u.CPU = tv(ru.Utime) + tv(ru.Stime)
	}
	u.RSS = p.tree.peak()
	return u
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// signalTree sends sig to the root and every descendant (to freeze and
// thaw a server tree with SIGSTOP and SIGCONT).
func (p *proc) signalTree(sig syscall.Signal) {
	for _, pid := range descendants(p.pid()) {
		syscall.Kill(pid, sig)
	}
}

// tree samples the processes under a root every 25 ms and remembers each
// one's VmHWM (its own peak RSS, reset by exec). peak is the sum of those
// peaks: for one process it is that process's peak; for a tree (scp and its
// ssh, an sshd session with its privilege-separated child and the
// sftp-server or rsync it runs) it bounds the tree's simultaneous peak from
// above. Growth in the last 25 ms of a process's life, and a process that
// lives less than 25 ms, can be missed.
type tree struct {
	root        int
	excludeRoot bool // sshd: the listener is not part of any one transfer
	quit        chan struct{}
	finished    chan struct{}

	// mu guards the following fields.
	mu  sync.Mutex
	hwm map[int]int64
}

func watchTree(root int, excludeRoot bool) *tree {
	t := &tree{root: root, excludeRoot: excludeRoot, quit: make(chan struct{}), finished: make(chan struct{}), hwm: map[int]int64{}}
	go func() {
		defer close(t.finished)
		tk := time.NewTicker(25 * time.Millisecond)
		defer tk.Stop()
		for {
			t.sample()
			select {
			case <-tk.C:
			case <-t.quit:
				return
			}
		}
	}()
	return t
}

func (t *tree) sample() {
	for _, pid := range descendants(t.root) {
		if t.excludeRoot && pid == t.root {
			continue
		}
		if kb := statusKB(pid, "VmHWM:"); kb > 0 {
			t.mu.Lock()
			t.hwm[pid] = max(t.hwm[pid], kb<<10)
			t.mu.Unlock()
		}
	}
}

func (t *tree) stop() {
	close(t.quit)
	<-t.finished
}

func (t *tree) peak() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var sum int64
	for _, v := range t.hwm {
		sum += v
	}
	return sum
}

// descendants returns pid and every process below it, from
// /proc/PID/task/TID/children.
func descendants(pid int) []int {
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", out[i]))
		for _, f := range tasks {
			b, _ := os.ReadFile(f)
			for _, s := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(s); err == nil {
					out = append(out, c)
				}
			}
		}
	}
	return out
}

// statusKB reads a "Key: N kB" line of /proc/PID/status.
func statusKB(pid int, key string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, key) {
			f := strings.Fields(line)
			if len(f) >= 2 {
				n, _ := strconv.ParseInt(f[1], 10, 64)
				return n
			}
		}
	}
	return 0
}

// cpuSeconds reads utime+stime of a live process from /proc/PID/stat.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (u + st) / 100 // USER_HZ is 100 on Linux
}

// runOut runs a short command and returns its combined output.
func runOut(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

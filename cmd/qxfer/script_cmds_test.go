package main

// Script commands for interrupting transfers from the outside: qxfer-bg
// starts a client in the background, signal and send talk to it,
// wait-exit checks how it ended; wait-file watches a .part grow and
// sumbytes reads the byte count of a transfer summary.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// Time limits for background clients.
const (
	bgWaitTimeout  = 20 * time.Second // wait-exit and wait-file, unless told
	bgStopTimeout  = 5 * time.Second  // end of script: after SIGKILL
	bgPollInterval = 5 * time.Millisecond
)

// bgEnv lists the variables a background client inherits from the script:
// the system's and every variable the command line reads (its env tags).
var bgEnv = append([]string{
	"PATH", "HOME", "TMPDIR", "TMP", "TEMP", "SYSTEMROOT", "GORACE", "GOCOVERDIR",
}, slices.Sorted(maps.Keys(envTags(reflect.TypeFor[cli](), map[string]bool{})))...)

// envTags adds the env tags of the struct type t, and of the structs it
// holds, to names.
func envTags(t reflect.Type, names map[string]bool) map[string]bool {
	if t.Kind() != reflect.Struct {
		return names
	}
	for f := range t.Fields() {
		if tag := f.Tag.Get("env"); tag != "" {
			for _, n := range strings.Split(tag, ",") {
				names[n] = true
			}
		}
		envTags(f.Type, names)
	}
	return names
}

// bgProc is one client started by qxfer-bg.
type bgProc struct {
	name             string
	cmd              *exec.Cmd
	stdin            io.WriteCloser
	outPath, errPath string
	signalled        bool // signal has sent it at least one signal
	checked          bool // wait-exit has seen it exit

	done    chan struct{} // closed once it has exited
	waitErr error         // cmd.Wait's result, valid after done
}

// exited reports whether the process has ended.
func (p *bgProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// describe says how the process ended, like exec.ExitError does.
func (p *bgProc) describe() string { return p.cmd.ProcessState.String() }

// bgScripts maps each running script (*testscript.TestScript) to its
// background clients (map[string]*bgProc). A script runs its commands and
// deferred functions on one goroutine, so the inner map needs no lock.
var bgScripts sync.Map

// bgProcs returns the script's background clients. On first use it arranges
// for them to be stopped at the end of the script: each must have exited
// and been checked by wait-exit by then; one still running is killed.
func bgProcs(ts *testscript.TestScript) map[string]*bgProc {
	if m, ok := bgScripts.Load(ts); ok {
		return m.(map[string]*bgProc)
	}
	procs := map[string]*bgProc{}
	bgScripts.Store(ts, procs)
	t := ts.Value(tKey{}).(testscript.T)
	ts.Defer(func() {
		bgScripts.Delete(ts)
		for _, p := range procs {
			p.stdin.Close()
			switch {
			case !p.exited():
				p.cmd.Process.Kill()
				select {
				case <-p.done:
				case <-time.After(bgStopTimeout):
				}
				errorf(t, "qxfer-bg %s: still running at the end of the script; killed\nstderr:\n%s", p.name, readTail(p.errPath))
			case !p.checked:
				errorf(t, "qxfer-bg %s: exited (%s) but no wait-exit checked it", p.name, p.describe())
			}
		}
	})
	return procs
}

// bgProcNamed returns the background client NAME or fails the script.
func bgProcNamed(ts *testscript.TestScript, name string) *bgProc {
	p, ok := bgProcs(ts)[name]
	if !ok {
		ts.Fatalf("no background client named %q (start one with qxfer-bg)", name)
	}
	return p
}

// cmdQxferBg implements "qxfer-bg NAME ARGS...": it starts "qxfer ARGS..."
// in the background, in the script's directory, with the script's
// QXFER_* variables and its stdout and stderr going to $WORK/NAME.stdout
// and $WORK/NAME.stderr. Its stdin is a pipe that send writes to and
// closein closes. Every background client must be checked with wait-exit.
func cmdQxferBg(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: qxfer-bg NAME ARGS...")
	}
	name := args[0]
	if name == "" || strings.ContainsAny(name, `/\`) {
		ts.Fatalf("qxfer-bg: bad name %q", name)
	}
	procs := bgProcs(ts)
	if _, ok := procs[name]; ok {
		ts.Fatalf("qxfer-bg: a background client named %s was already started", name)
	}
	work := ts.Getenv("WORK")
	p := &bgProc{
		name:    name,
		outPath: filepath.Join(work, name+".stdout"),
		errPath: filepath.Join(work, name+".stderr"),
		done:    make(chan struct{}),
	}
	outFile, err := os.Create(p.outPath)
	ts.Check(err)
	defer outFile.Close() // the child has its own copy
	errFile, err := os.Create(p.errPath)
	ts.Check(err)
	defer errFile.Close()

	p.cmd = exec.Command(lookPath(ts, "qxfer"), args[1:]...)
	p.cmd.Dir = ts.MkAbs(".")
	for _, k := range bgEnv {
		if v := ts.Getenv(k); v != "" {
			p.cmd.Env = append(p.cmd.Env, k+"="+v)
		}
	}
	p.cmd.Stdout, p.cmd.Stderr = outFile, errFile
	p.stdin, err = p.cmd.StdinPipe()
	ts.Check(err)
	ts.Check(p.cmd.Start())
	procs[name] = p
	go func() {
		// Owned by the script: wait-exit and the deferred stop wait
		// for done.
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	ts.Logf("qxfer-bg %s: pid %d", name, p.cmd.Process.Pid)
}

// signals are the signals that signal sends, by script name.
var signals = map[string]os.Signal{
	"INT":  os.Interrupt,
	"TERM": syscall.SIGTERM,
	"KILL": os.Kill,
	"HUP":  syscall.SIGHUP,
}

// cmdSignal implements "signal NAME SIG...": it sends the signals (INT,
// TERM, KILL or HUP) to background client NAME, one right after the other. The
// client must still be running when it gets its first signal; a later one
// may find that it has already exited.
func cmdSignal(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: signal NAME INT|TERM|KILL|HUP...")
	}
	p := bgProcNamed(ts, args[0])
	var sigs []os.Signal
	for _, a := range args[1:] {
		s, ok := signals[a]
		if !ok {
			ts.Fatalf("signal: unknown signal %q, want INT, TERM or KILL", a)
		}
		sigs = append(sigs, s)
	}
	for _, s := range sigs {
		if !p.signalled && p.exited() {
			ts.Fatalf("signal: %s exited (%s) before it was sent %v; a transfer that lasts longer is needed\nstdout:\n%s\nstderr:\n%s",
				p.name, p.describe(), s, readTail(p.outPath), readTail(p.errPath))
		}
		err := p.cmd.Process.Signal(s)
		switch {
		case errors.Is(err, os.ErrProcessDone) && p.signalled:
			ts.Logf("signal: %s had already exited; %v not sent", p.name, s)
		case err != nil:
			ts.Fatalf("signal: %s: %v", p.name, err)
		}
		p.signalled = true
	}
}

// cmdSend implements "send NAME WORDS...": it writes the words, joined by
// spaces, and a newline to background client NAME's stdin.
func cmdSend(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: send NAME WORDS...")
	}
	p := bgProcNamed(ts, args[0])
	if _, err := io.WriteString(p.stdin, strings.Join(args[1:], " ")+"\n"); err != nil {
		exit := "still running"
		if p.exited() {
			exit = p.describe()
		}
		ts.Fatalf("send: %s (%s): %v", p.name, exit, err)
	}
}

// cmdCloseIn implements "closein NAME": it closes background client
// NAME's stdin (end of input).
func cmdCloseIn(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: closein NAME")
	}
	ts.Check(bgProcNamed(ts, args[0]).stdin.Close())
}

// cmdRunning implements "running NAME": background client NAME has not
// exited yet ("! running NAME": it has).
func cmdRunning(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: running NAME")
	}
	p := bgProcNamed(ts, args[0])
	switch {
	case neg && !p.exited():
		ts.Fatalf("%s is still running", p.name)
	case !neg && p.exited():
		ts.Fatalf("%s exited (%s)\nstderr:\n%s", p.name, p.describe(), readTail(p.errPath))
	}
}

// cmdWaitExit implements "wait-exit [-within D] NAME STATUS...": it waits
// (20s unless told) for background client NAME to exit, then checks that
// it ended with one of the STATUSes: an exit status (a number) or death by
// a signal (SIGINT, SIGTERM, SIGKILL). Afterwards stdout and stderr are
// the client's, for the stdout and stderr commands.
func cmdWaitExit(ts *testscript.TestScript, neg bool, args []string) {
	const usage = "usage: wait-exit [-within DURATION] NAME STATUS..."
	if neg {
		ts.Fatalf("unsupported: ! wait-exit")
	}
	within := bgWaitTimeout
	if len(args) > 0 && args[0] == "-within" {
		if len(args) < 2 {
			ts.Fatalf(usage)
		}
		d, err := time.ParseDuration(args[1])
		if err != nil || d <= 0 {
			ts.Fatalf("wait-exit: bad duration %q", args[1])
		}
		within, args = d, args[2:]
	}
	if len(args) < 2 {
		ts.Fatalf(usage)
	}
	p := bgProcNamed(ts, args[0])
	want := args[1:]
	for _, w := range want {
		if _, err := strconv.Atoi(w); err != nil && waitSignals[w] == nil {
			ts.Fatalf("wait-exit: bad status %q, want a number or SIGINT, SIGTERM, SIGKILL", w)
		}
	}
	start := time.Now()
	select {
	case <-p.done:
	case <-time.After(within):
		ts.Fatalf("wait-exit: %s still running after %v\nstderr:\n%s", p.name, within, readTail(p.errPath))
	}
	p.checked = true
	ts.Logf("wait-exit: %s: %s after %v", p.name, p.describe(), time.Since(start).Round(time.Millisecond))
	var ee *exec.ExitError
	if p.waitErr != nil && !errors.As(p.waitErr, &ee) {
		ts.Fatalf("wait-exit: %s: %v", p.name, p.waitErr)
	}
	out, err := os.ReadFile(p.outPath)
	ts.Check(err)
	errOut, err := os.ReadFile(p.errPath)
	ts.Check(err)
	ts.Stdout().Write(out)
	ts.Stderr().Write(errOut)
	for _, w := range want {
		if exitMatches(p.cmd.ProcessState, w) {
			return
		}
	}
	ts.Fatalf("wait-exit: %s: %s, want %s", p.name, p.describe(), strings.Join(want, " or "))
}

// waitSignals are the deaths by signal that wait-exit recognises.
var waitSignals = map[string]os.Signal{
	"SIGINT":  syscall.SIGINT,
	"SIGTERM": syscall.SIGTERM,
	"SIGKILL": syscall.SIGKILL,
}

// exitMatches reports whether st is the STATUS word w of wait-exit.
func exitMatches(st *os.ProcessState, w string) bool {
	if n, err := strconv.Atoi(w); err == nil {
		return st.ExitCode() == n
	}
	ws, ok := st.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == waitSignals[w]
}

// cmdWaitFile implements "wait-file [-while NAME] [-timeout D] PATH
// MINBYTES": it polls until PATH exists with at least MINBYTES bytes, for
// 20s unless told; a PATH with glob characters waits for any file it
// matches. With -while it fails at once if background client NAME
// exits first (its transfer ended too soon to be caught in the middle).
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	const usage = "usage: wait-file [-while NAME] [-timeout DURATION] PATH MINBYTES"
	if neg {
		ts.Fatalf("unsupported: ! wait-file")
	}
	var (
		proc    *bgProc
		timeout = bgWaitTimeout
	)
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		if len(args) < 2 {
			ts.Fatalf(usage)
		}
		switch args[0] {
		case "-while":
			proc = bgProcNamed(ts, args[1])
		case "-timeout":
			d, err := time.ParseDuration(args[1])
			if err != nil || d <= 0 {
				ts.Fatalf("wait-file: bad duration %q", args[1])
			}
			timeout = d
		default:
			ts.Fatalf(usage)
		}
		args = args[2:]
	}
	if len(args) != 2 {
		ts.Fatalf(usage)
	}
	path := ts.MkAbs(args[0])
	min, err := strconv.ParseInt(args[1], 10, 64)
	if err != nil || min < 0 {
		ts.Fatalf("wait-file: bad size %q", args[1])
	}
	// stat is the largest file PATH names: PATH may be a glob pattern
	// (filepath.Match), any of whose files will do.
	stat := func() (fs.FileInfo, error) {
		names, err := filepath.Glob(path)
		if err != nil || len(names) == 0 {
			return os.Stat(path)
		}
		var best fs.FileInfo
		for _, n := range names {
			if fi, err := os.Stat(n); err == nil && (best == nil || fi.Size() > best.Size()) {
				best = fi
			}
		}
		if best == nil {
			return nil, fs.ErrNotExist
		}
		return best, nil
	}
	size := func() string {
		fi, err := stat()
		if err != nil {
			return "does not exist"
		}
		return fmt.Sprintf("has %d bytes", fi.Size())
	}
	start := time.Now()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(bgPollInterval)
	defer tick.Stop()
	for {
		// Check the process first: if it exited, one last look at
		// the file decides.
		var exited bool
		if proc != nil {
			exited = proc.exited()
		}
		if fi, err := stat(); err == nil && fi.Size() >= min {
			ts.Logf("wait-file: %s has %d bytes after %v", args[0], fi.Size(), time.Since(start).Round(time.Millisecond))
			return
		}
		if exited {
			ts.Fatalf("wait-file: %s exited (%s) while %s %s, want at least %d\nstdout:\n%s\nstderr:\n%s",
				proc.name, proc.describe(), args[0], size(), min, readTail(proc.outPath), readTail(proc.errPath))
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			ts.Fatalf("wait-file: %s %s after %v, want at least %d", args[0], size(), timeout, min)
		}
	}
}

// summaryRE matches the byte count of a push or pull summary line, as
// printed by printSummary.
var summaryRE = regexp.MustCompile(`(?m)^\d+ files? (?:pushed|pulled) \((\d+(?:\.\d)?) (B|[KMGTPE]iB) in `)

// cmdSumBytes implements "sumbytes FILE OP N": the byte count in the last
// transfer summary line of FILE ("stdout" or "stderr" for the last
// command's) compares with N. Summaries round to 0.1 of a unit, so
// "== N" means the summary shows exactly what N would print as, and
// "< N" or "> N" hold for every count that rounds to the one shown.
func cmdSumBytes(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: sumbytes FILE ==|<|> N")
	}
	n, err := strconv.ParseInt(args[2], 10, 64)
	if err != nil || n < 0 {
		ts.Fatalf("sumbytes: bad byte count %q", args[2])
	}
	all := summaryRE.FindAllStringSubmatch(ts.ReadFile(args[0]), -1)
	if len(all) == 0 {
		ts.Fatalf("sumbytes: no push or pull summary line in %s", args[0])
	}
	m := all[len(all)-1]
	shown := m[1] + " " + m[2]
	v, err := strconv.ParseFloat(m[1], 64)
	ts.Check(err)
	unit, half := 1.0, 0.0
	if m[2] != "B" {
		unit = float64(int64(1) << (10 * (1 + strings.IndexByte("KMGTPE", m[2][0]))))
		half = 0.05
	}
	lo, hi := (v-half)*unit, (v+half)*unit
	var ok bool
	switch args[1] {
	case "==":
		ok = shown == humanBytes(n)
	case "<":
		ok = hi < float64(n)
	case ">":
		ok = lo > float64(n)
	default:
		ts.Fatalf("sumbytes: bad operator %q, want ==, < or >", args[1])
	}
	if !ok {
		ts.Fatalf("sumbytes: summary shows %s, want %s %d (%s)", shown, args[1], n, humanBytes(n))
	}
}

// TestBgCommandsFail checks that the commands above fail when their
// condition does not hold, and say why.
func TestBgCommandsFail(t *testing.T) {
	// A UDP socket that never answers: a client dialling it keeps
	// trying until its --connect-timeout (a closed port would answer
	// with ICMP port unreachable, and the client could end at once).
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	tests := []failCase{
		{
			name:   "wait-exit status",
			script: "qxfer-bg v version\nwait-exit v 1 SIGKILL\n",
			want:   []string{`wait-exit: v: exit status 0, want 1 or SIGKILL`},
		},
		{
			name:   "wait-exit still running",
			script: "qxfer-bg sh shell --connect-timeout 10s " + silent.LocalAddr().String() + "\nwait-exit -within 50ms sh 4\n",
			want: []string{
				`wait-exit: sh still running after 50ms`,
				`qxfer-bg sh: still running at the end of the script; killed`,
			},
		},
		{
			name:   "wait-file too small",
			script: "wait-file -timeout 50ms f 10\n-- f --\nx\n",
			want:   []string{`wait-file: f has 2 bytes after 50ms, want at least 10`},
		},
		{
			name:   "wait-file process exited",
			script: "qxfer-bg v version\nwait-file -while v nosuch 1\n",
			want: []string{
				`wait-file: v exited \(exit status 0\) while nosuch does not exist, want at least 1`,
				`qxfer-bg v: exited \(exit status 0\) but no wait-exit checked it`,
			},
		},
		{
			name:   "signal after exit",
			script: "qxfer-bg v version\nwait-exit v 0\nsignal v INT\n",
			want:   []string{`signal: v exited \(exit status 0\) before it was sent interrupt`},
		},
		{
			name:   "sumbytes less",
			script: "sumbytes out < 1048576\n-- out --\n1 file pushed (1.0 MiB in 1s, 1.0 MiB/s)\n",
			want:   []string{`sumbytes: summary shows 1\.0 MiB, want < 1048576`},
		},
		{
			name:   "sumbytes equal",
			script: "sumbytes out == 1000\n-- out --\n0 files pulled (1001 B in 1s, 1001 B/s), 1 failed\n",
			want:   []string{`sumbytes: summary shows 1001 B, want == 1000`},
		},
		{
			name:   "sumbytes no summary",
			script: "sumbytes out > 0\n-- out --\nqxfer: interrupted\n",
			want:   []string{`sumbytes: no push or pull summary line in out`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			failed, log := runRecorded(t, selfScript(t, tt.script))
			checkFailed(t, failed, log, tt.want...)
		})
	}
}

// stopT is a recordT that stops a script at its first failure, as
// testing.T does (recordT runs the rest of the script), and records a skip
// for runRecorded to pass on.
type stopT struct {
	*recordT
	skip *string
}

func (s stopT) FailNow()          { s.fail(""); runtime.Goexit() }
func (s stopT) Fatal(args ...any) { s.fail(fmt.Sprint(args...)); runtime.Goexit() }
func (s stopT) Skip(args ...any)  { *s.skip = fmt.Sprint(args...); runtime.Goexit() }

// Run runs f on its own goroutine, which FailNow and Skip end.
func (s stopT) Run(name string, f func(testscript.T)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(s)
	}()
	<-done
}

// runRecorded runs one script file and returns whether it failed and its
// log, instead of failing t. A script that skips itself skips t.
func runRecorded(t *testing.T, file string) (failed bool, log string) {
	var skip string
	r := &recordT{t: t}
	runScript(stopT{recordT: r, skip: &skip}, file)
	if skip != "" {
		t.Skip(skip)
	}
	return r.failed, r.log.String()
}

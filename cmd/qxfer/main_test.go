package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain makes the test binary double as the qxfer binary: testscript
// installs a copy named "qxfer" on the scripts' PATH, and running that copy
// runs main, exactly as the installed command would.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"qxfer": main})
}

// tKey is the Env.Values key under which Setup stores the test's T.
type tKey struct{}

// TestScripts runs every testdata/script/*.txtar, each with its own
// $WORK, its own client home ($QXFER_HOME=$WORK/home) and its own servers.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "script"),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup:               setupScript,
		Cmds:                scriptCmds,
	})
}

var scriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"serve-bg":   cmdServeBg,
	"exit-code":  cmdExitCode,
	"fileeq":     cmdFileEq,
	"nopart":     cmdNoPart,
	"mkrandom":   cmdMkRandom,
	"perm":       cmdPerm,
	"freeaddr":   cmdFreeAddr,
	"silentaddr": cmdSilentAddr,
	"mkfile-q":   cmdMkFileQ,
	"envfile":    cmdEnvFile,
	"expand":     cmdExpand,
	"bytesenv":   cmdBytesEnv,
	"httpget":    cmdHTTPGet,
	// script_cmds_test.go
	"qxfer-bg":  cmdQxferBg,
	"signal":    cmdSignal,
	"send":      cmdSend,
	"closein":   cmdCloseIn,
	"wait-exit": cmdWaitExit,
	"wait-file": cmdWaitFile,
	"sumbytes":  cmdSumBytes,
	"running":   cmdRunning,
}

func setupScript(e *testscript.Env) error {
	e.Values[tKey{}] = e.T()
	e.Setenv("QXFER_HOME", filepath.Join(e.WorkDir, "home"))
	// Under -race every qxfer process would otherwise sleep a second
	// before exiting. A race still fails the command: it exits with
	// status 66, which exec and exit-code report.
	if e.Getenv("GORACE") == "" {
		e.Setenv("GORACE", "atexit_sleep_ms=10")
	}
	return nil
}

// Time limits for background servers.
const (
	serveStartTimeout = 20 * time.Second
	serveStopTimeout  = 5 * time.Second
)

// cmdServeBg implements "serve-bg NAME [serve flags...]": it starts
// "qxfer serve --listen 127.0.0.1:0 FLAGS..." with QXFER_HOME=$WORK/NAME-home,
// waits for the "qxfer serving ROOT on ADDR" and "fingerprint FP" lines and
// sets $NAME_ADDR and $NAME_FP (NAME upper-cased). The server's stderr goes
// to $WORK/NAME.stderr. At the end of the script the server gets SIGINT
// and must exit with status 0 within five seconds.
func cmdServeBg(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! serve-bg")
	}
	if len(args) < 1 {
		ts.Fatalf("usage: serve-bg NAME [serve flags...]")
	}
	name, flags := args[0], args[1:]
	varName := strings.ToUpper(name)
	if ts.Getenv(varName+"_ADDR") != "" {
		ts.Fatalf("serve-bg: a server named %s is already running", name)
	}
	bin := lookPath(ts, "qxfer")
	work := ts.Getenv("WORK")
	home := filepath.Join(work, name+"-home")
	errPath := filepath.Join(work, name+".stderr")
	errFile, err := os.Create(errPath)
	ts.Check(err)
	defer errFile.Close() // the child has its own copy

	cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0"}, flags...)...)
	cmd.Dir = ts.MkAbs(".")
	// A test server drains for at most 2 s on the harness's SIGINT (a
	// killed client's session would hold it for the idle timeout), so the
	// 5 s stop holds; scripts about shutdown pass --shutdown-timeout.
	cmd.Env = []string{"QXFER_HOME=" + home, "QXFER_SHUTDOWN_TIMEOUT=2s"}
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "TMP", "TEMP", "SYSTEMROOT", "GORACE", "GOCOVERDIR", "QXFER_LOG_LEVEL", "QXFER_LOG_FORMAT"} {
		if v := ts.Getenv(k); v != "" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.Stderr = errFile
	stdout, err := cmd.StdoutPipe()
	ts.Check(err)
	ts.Check(cmd.Start())

	// Read the banner, then keep draining stdout (into NAME.stdout) so the
	// server never blocks on a full pipe.
	type banner struct {
		addr, fp string
		err      error
	}
	bannerc := make(chan banner, 1)
	outPath := filepath.Join(work, name+".stdout")
	var drain sync.WaitGroup
	drain.Go(func() {
		var out bytes.Buffer
		defer func() { os.WriteFile(outPath, out.Bytes(), 0o666) }()
		sc := bufio.NewScanner(io.TeeReader(stdout, &out))
		var b banner
		for b.err == nil && (b.addr == "" || b.fp == "") && sc.Scan() {
			line := sc.Text()
			if rest, ok := strings.CutPrefix(line, "qxfer serving "); ok {
				i := strings.LastIndex(rest, " on ")
				if i < 0 {
					b.err = fmt.Errorf("malformed banner line %q", line)
				} else {
					b.addr = rest[i+len(" on "):]
				}
			} else if rest, ok := strings.CutPrefix(line, "fingerprint "); ok {
				b.fp = rest
			}
		}
		if b.err == nil && (b.addr == "" || b.fp == "") {
			b.err = fmt.Errorf("stdout ended before the banner (scan error: %v); got %q", sc.Err(), out.String())
		}
		bannerc <- b
		// The tee has already copied what the scanner buffered.
		io.Copy(&out, stdout)
	})

	// done is closed when the server has exited; waitErr is then its status.
	done := make(chan struct{})
	var waitErr error
	go func() {
		drain.Wait() // StdoutPipe: finish reading before Wait
		waitErr = cmd.Wait()
		close(done)
	}()

	started := false
	t := ts.Value(tKey{}).(testscript.T)
	ts.Defer(func() {
		if !started { // already reported
			cmd.Process.Kill()
			<-done
			return
		}
		stop := func() error {
			select {
			case <-done:
				return fmt.Errorf("exited before the end of the script: %v", status(waitErr))
			default:
			}
			if err := cmd.Process.Signal(os.Interrupt); err != nil && !errors.Is(err, os.ErrProcessDone) {
				return fmt.Errorf("send SIGINT: %v", err)
			}
			select {
			case <-done:
				if waitErr != nil {
					return fmt.Errorf("exited after SIGINT with %v, want exit status 0", waitErr)
				}
				return nil
			case <-time.After(serveStopTimeout):
				cmd.Process.Kill()
				<-done
				return fmt.Errorf("still running %v after SIGINT; killed", serveStopTimeout)
			}
		}
		if err := stop(); err != nil {
			errorf(t, "server %s: %v\nstderr:\n%s", name, err, readTail(errPath))
		}
	})

	select {
	case b := <-bannerc:
		if b.err != nil {
			exit := "still running"
			select {
			case <-done:
				exit = status(waitErr)
			case <-time.After(serveStopTimeout):
			}
			ts.Fatalf("serve-bg %s: %v (%s)\nstderr:\n%s", name, b.err, exit, readTail(errPath))
		}
		started = true
		ts.Setenv(varName+"_ADDR", b.addr)
		ts.Setenv(varName+"_FP", b.fp)
		ts.Logf("serve-bg %s: %s_ADDR=%s %s_FP=%s", name, varName, b.addr, varName, b.fp)
	case <-time.After(serveStartTimeout):
		ts.Fatalf("serve-bg %s: no banner after %v\nstderr:\n%s", name, serveStartTimeout, readTail(errPath))
	}
}

// status describes the result of exec.Cmd.Wait.
func status(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// errorf reports a failure through the script's T, from a deferred
// function where ts.Fatalf cannot be used.
func errorf(t testscript.T, format string, args ...any) {
	if e, ok := t.(interface{ Errorf(string, ...any) }); ok {
		e.Errorf(format, args...)
		return
	}
	t.Log(fmt.Sprintf(format, args...))
	t.Fatal("background server failed")
}

// readTail returns the last few KiB of a file, for failure messages.
func readTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	const max = 4 << 10
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// lookPath finds prog on the script's $PATH.
func lookPath(ts *testscript.TestScript, prog string) string {
	if runtime.GOOS == "windows" {
		prog += ".exe"
	}
	for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
		p := filepath.Join(dir, prog)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	ts.Fatalf("%s not found on $PATH", prog)
	return ""
}

// cmdExitCode implements "exit-code N PROG [args...]": it runs PROG like
// exec and checks that it exits with status N; its stdout and stderr can
// be checked afterwards. "! exit-code N" wants any other status.
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: exit-code N PROG [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exit-code: bad status %q", args[0])
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exit-code: %v", err)
		}
		got = ee.ExitCode()
		if got < 0 {
			ts.Fatalf("exit-code: %s: %v", args[1], ee)
		}
	}
	switch {
	case neg && got == want:
		ts.Fatalf("exit status %d, want anything else", got)
	case !neg && got != want:
		ts.Fatalf("exit status %d, want %d", got, want)
	}
}

// cmdFileEq implements "fileeq A B": the two files have the same bytes.
// Unlike cmp it prints no diff, so it suits binary files.
func cmdFileEq(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: fileeq A B")
	}
	a, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	b, err := os.ReadFile(ts.MkAbs(args[1]))
	ts.Check(err)
	eq := bytes.Equal(a, b)
	switch {
	case neg && eq:
		ts.Fatalf("%s and %s are equal (%d bytes), want different", args[0], args[1], len(a))
	case !neg && !eq:
		ts.Fatalf("%s (%d bytes) and %s (%d bytes) differ", args[0], len(a), args[1], len(b))
	}
}

// partSuffix ends the names of files being received.
const partSuffix = ".qxfer.part"

// cmdNoPart implements "nopart DIR...": no file under DIR has a name
// ending in .qxfer.part. "! nopart DIR" wants at least one.
func cmdNoPart(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 {
		ts.Fatalf("usage: nopart DIR...")
	}
	var found []string
	for _, dir := range args {
		root := ts.MkAbs(dir)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if strings.HasSuffix(d.Name(), partSuffix) {
				found = append(found, p)
			}
			return nil
		})
		ts.Check(err)
	}
	switch {
	case neg && len(found) == 0:
		ts.Fatalf("no *%s file under %s", partSuffix, strings.Join(args, " "))
	case !neg && len(found) > 0:
		ts.Fatalf("partial files left behind: %s", strings.Join(found, ", "))
	}
}

// cmdMkRandom implements "mkrandom PATH SIZE": a file of SIZE random
// bytes, creating parent directories.
func cmdMkRandom(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: mkrandom PATH SIZE")
	}
	n, err := strconv.Atoi(args[1])
	if err != nil || n < 0 {
		ts.Fatalf("mkrandom: bad size %q", args[1])
	}
	b := make([]byte, n)
	rand.Read(b)
	p := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(filepath.Dir(p), 0o777))
	ts.Check(os.WriteFile(p, b, 0o666))
}

// cmdPerm implements "perm PATH MODE": the file's permission bits are
// MODE (octal). Unix only; elsewhere it checks nothing.
func cmdPerm(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: perm PATH MODE")
	}
	want, err := strconv.ParseUint(args[1], 8, 32)
	if err != nil {
		ts.Fatalf("perm: bad mode %q", args[1])
	}
	fi, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	if runtime.GOOS == "windows" {
		return
	}
	got := fi.Mode().Perm()
	switch {
	case neg && got == fs.FileMode(want):
		ts.Fatalf("%s has mode %#o, want anything else", args[0], got)
	case !neg && got != fs.FileMode(want):
		ts.Fatalf("%s has mode %#o, want %#o", args[0], got, want)
	}
}

// cmdFreeAddr implements "freeaddr NAME": sets $NAME to a loopback UDP
// address nothing listens on (it was free a moment ago).
func cmdFreeAddr(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeaddr NAME")
	}
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	ts.Check(err)
	addr := c.LocalAddr().String()
	ts.Check(c.Close())
	ts.Setenv(args[0], addr)
}

// cmdSilentAddr implements "silentaddr NAME": binds a loopback UDP socket
// that reads and drops every datagram (no ICMP error, no answer), sets
// $NAME to its address, and closes it when the script ends.
func cmdSilentAddr(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: silentaddr NAME")
	}
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	ts.Check(err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			if _, _, err := c.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	ts.Defer(func() {
		c.Close()
		<-done
	})
	ts.Setenv(args[0], c.LocalAddr().String())
}

// cmdEnvFile implements "envfile NAME FILE": sets $NAME to FILE's content
// without surrounding white space; FILE "stdout" or "stderr" means the
// last command's output.
func cmdEnvFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: envfile NAME FILE")
	}
	ts.Setenv(args[0], strings.TrimSpace(ts.ReadFile(args[1])))
}

// cmdExpand implements "expand SRC DST": writes SRC to DST with $VAR and
// ${VAR} replaced by the script's environment.
func cmdExpand(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: expand SRC DST")
	}
	s := os.Expand(ts.ReadFile(args[0]), ts.Getenv)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(s), 0o666))
}

// cmdBytesEnv implements "bytesenv NAME ESCAPED": sets $NAME to ESCAPED
// read as the inside of a Go string literal, so 'out\xff' gives bytes
// that are not UTF-8, which a script cannot write directly.
func cmdBytesEnv(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: bytesenv NAME ESCAPED")
	}
	v, err := strconv.Unquote(`"` + args[1] + `"`)
	if err != nil {
		ts.Fatalf("bytesenv: %q: %v", args[1], err)
	}
	ts.Setenv(args[0], v)
}

// recordT is a testscript.T that records failures instead of failing the
// test, so TestScriptCommandsFail can check that the custom commands do fail.
type recordT struct {
	t      *testing.T
	mu     sync.Mutex
	failed bool
	log    strings.Builder
}

func (r *recordT) Skip(args ...any)  { r.t.Skip(args...) }
func (r *recordT) Parallel()         {}
func (r *recordT) Verbose() bool     { return false }
func (r *recordT) Fatal(args ...any) { r.fail(fmt.Sprint(args...)) }
func (r *recordT) FailNow()          { r.fail("") }
func (r *recordT) Log(args ...any)   { r.record(fmt.Sprint(args...)) }
func (r *recordT) Errorf(format string, args ...any) {
	r.fail(fmt.Sprintf(format, args...))
}
func (r *recordT) Run(name string, f func(testscript.T)) { f(r) }

func (r *recordT) fail(msg string) {
	r.mu.Lock()
	r.failed = true
	r.mu.Unlock()
	r.record(msg)
}

func (r *recordT) record(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log.WriteString(msg)
	r.log.WriteString("\n")
}

// selfScript writes script to a file of its own and returns its path.
func selfScript(t *testing.T, script string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "self.txtar")
	if err := os.WriteFile(file, []byte(script), 0o666); err != nil {
		t.Fatal(err)
	}
	return file
}

// runScript runs one script file, with the custom commands, on ts.
func runScript(ts testscript.T, file string) {
	testscript.RunT(ts, testscript.Params{
		Files:               []string{file},
		RequireExplicitExec: true,
		Setup:               setupScript,
		Cmds:                scriptCmds,
	})
}

// recordScript runs script to its end on a recordT and returns whether it
// failed and its log, instead of failing t.
func recordScript(t *testing.T, script string) (failed bool, log string) {
	t.Helper()
	r := &recordT{t: t}
	runScript(r, selfScript(t, script))
	return r.failed, r.log.String()
}

// failCase is a script that must fail, and what it must say.
type failCase struct {
	name   string
	script string
	want   []string // regexps the failure log must match
}

// checkFailed fails t unless a script failed with a log that matches
// every regexp in want.
func checkFailed(t *testing.T, failed bool, log string, want ...string) {
	t.Helper()
	if !failed {
		t.Fatalf("script passed, want it to fail; log:\n%s", log)
	}
	for _, w := range want {
		if !regexp.MustCompile(w).MatchString(log) {
			t.Errorf("failure log does not match %q:\n%s", w, log)
		}
	}
}

// TestScriptCommandsFail checks that each custom script command fails when
// its condition does not hold, and says why.
func TestScriptCommandsFail(t *testing.T) {
	tests := []failCase{
		{
			name:   "fileeq",
			script: "fileeq a b\n-- a --\nx\n-- b --\ny\n",
			want:   []string{`a \(2 bytes\) and b \(2 bytes\) differ`},
		},
		{
			name:   "not fileeq",
			script: "! fileeq a a\n-- a --\nx\n",
			want:   []string{`a and a are equal`},
		},
		{
			name:   "nopart",
			script: "nopart d\n-- d/sub/.f.qxfer.part --\nx\n",
			want:   []string{`partial files left behind: .*\.f\.qxfer\.part`},
		},
		{
			name:   "not nopart",
			script: "! nopart d\n-- d/f --\nx\n",
			want:   []string{`no \*\.qxfer\.part file under d`},
		},
		{
			name:   "exit-code",
			script: "exit-code 1 qxfer version\n",
			want:   []string{`exit status 0, want 1`},
		},
		{
			name:   "not exit-code",
			script: "! exit-code 2 qxfer push x\n",
			want:   []string{`exit status 2, want anything else`},
		},
		{
			name:   "perm",
			script: "chmod 0644 f\nperm f 0600\n-- f --\nx\n",
			want:   []string{`f has mode 0644, want 0600`},
		},
		{
			name:   "serve-bg fails to start",
			script: "serve-bg s --root nosuchdir\n",
			want: []string{
				`serve-bg s: stdout ended before the banner`,
				`qxfer: root nosuchdir: .*no such file`,
				`\(exit status 2\)`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "perm" && runtime.GOOS == "windows" {
				t.Skip("no unix permissions")
			}
			failed, log := recordScript(t, tt.script)
			checkFailed(t, failed, log, tt.want...)
		})
	}
}

// cmdHTTPGet implements "httpget URL": an HTTP GET of URL, retried for
// up to serveStartTimeout while the connection is refused (a server
// started with qxfer-bg may not listen yet); the body becomes stdout. A
// status other than 200 fails the command.
func cmdHTTPGet(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: httpget URL")
	}
	deadline := time.Now().Add(serveStartTimeout)
	var resp *http.Response
	var err error
	for {
		resp, err = http.Get(args[0])
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err == nil {
		defer resp.Body.Close()
		var body []byte
		body, err = io.ReadAll(resp.Body)
		ts.Stdout().Write(body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %s", resp.Status)
		}
	}
	if err != nil && !neg {
		ts.Fatalf("httpget %s: %v", args[0], err)
	}
	if err == nil && neg {
		ts.Fatalf("httpget %s: succeeded, want a failure", args[0])
	}
}

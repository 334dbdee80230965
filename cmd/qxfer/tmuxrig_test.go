package main

import (
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// tmuxRig is what the terminal tests share: a real qxfer server serving
// dir/root to the client home dir/c, and a tmux pane (a real terminal)
// for the command under test.
type tmuxRig struct {
	t                      *testing.T
	tmux, bin              string
	dir, chome, root, sock string
	addr                   string // the server's HOST:PORT
}

// newTmuxRig starts the server; the test is skipped when tmux is not
// installed (.ci/run installs it).
func newTmuxRig(t *testing.T) *tmuxRig {
	t.Helper()
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux is not installed")
	}
	bin, err := exec.LookPath("qxfer") // TestMain put it on $PATH
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r := &tmuxRig{t: t, tmux: tmux, bin: bin, dir: dir, chome: filepath.Join(dir, "c"),
		root: filepath.Join(dir, "root"), sock: filepath.Join(dir, "tmux.sock")}
	shome := filepath.Join(dir, "s")
	for _, d := range []string{shome, r.root} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fp, err := exec.Command(bin, "--home", r.chome, "id").Output()
	if err != nil {
		t.Fatalf("qxfer id: %v", err)
	}
	if err := os.WriteFile(filepath.Join(shome, "authorized_clients"), fp, 0o644); err != nil {
		t.Fatal(err)
	}
	r.addr = startServe(t, bin, shome, r.root)
	return r
}

// qxfer is the shell words that run the client binary with the rig's home.
func (r *tmuxRig) qxfer() string {
	return "GORACE=atexit_sleep_ms=10 " + shellQuote(r.bin) + " --home " + shellQuote(r.chome)
}

// writeRandom writes n random bytes to dir/name.
func (r *tmuxRig) writeRandom(name string, n int) {
	b := make([]byte, n)
	rand.Read(b)
	if err := os.WriteFile(filepath.Join(r.dir, name), b, 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *tmuxRig) tm(args ...string) *exec.Cmd {
	c := exec.Command(r.tmux, append([]string{"-S", r.sock, "-f", "/dev/null"}, args...)...)
	c.Env = append(os.Environ(), "TERM=xterm-256color")
	return c
}

// start runs script (sh) in a new pane of w columns and h lines; the
// server is killed with the test.
func (r *tmuxRig) start(script string, w, h int) {
	r.t.Helper()
	if b, err := r.tm("new-session", "-d", "-x", itoa(w), "-y", itoa(h), script).CombinedOutput(); err != nil {
		r.t.Fatalf("tmux new-session: %v\n%s", err, b)
	}
	r.t.Cleanup(func() { r.tm("kill-server").Run() })
}

// keys sends keys to the pane, as tmux send-keys names them.
func (r *tmuxRig) keys(k ...string) {
	r.t.Helper()
	if b, err := r.tm(append([]string{"send-keys", "-t", "0"}, k...)...).CombinedOutput(); err != nil {
		r.t.Fatalf("tmux send-keys %q: %v\n%s", k, err, b)
	}
}

// capture returns the pane's screen.
func (r *tmuxRig) capture() string {
	r.t.Helper()
	b, err := r.tm("capture-pane", "-p").Output()
	if err != nil {
		r.t.Fatalf("tmux capture-pane: %v", err)
	}
	return string(b)
}

// waitScreen waits up to a minute for the screen to match re, and
// returns it.
func (r *tmuxRig) waitScreen(what string, re *regexp.Regexp) string {
	r.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var screen string
	for time.Now().Before(deadline) {
		if screen = r.capture(); re.MatchString(screen) {
			return screen
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatalf("screen never showed %s; last screen:\n%s", what, screen)
	return ""
}

// pushInPane writes name, n random bytes, and starts "qxfer push" of it
// at rate (a --limit-rate value) to target in a 200×30 pane, with stdout
// redirected to a file, whose path it returns; the pane prints EXIT=<code>
// when the command ends.
func (r *tmuxRig) pushInPane(name string, n int, rate, target string) string {
	r.writeRandom(name, n)
	out := filepath.Join(r.dir, "out.txt")
	r.start("cd "+shellQuote(r.dir)+" && "+r.qxfer()+" push --limit-rate "+rate+" "+name+" "+r.addr+":"+target+" > "+shellQuote(out)+
		"; echo EXIT=$?; sleep 60", 200, 30)
	return out
}

// matchLines checks that the non-empty lines of screen match want, one
// by one; what describes the lines for the error.
func matchLines(t *testing.T, what, screen string, want []*regexp.Regexp) {
	t.Helper()
	lines := nonEmptyLines(screen)
	if len(lines) != len(want) {
		t.Fatalf("after: got %d lines, want %d (%s):\n%s", len(lines), len(want), what, screen)
	}
	for i, re := range want {
		if !re.MatchString(lines[i]) {
			t.Errorf("after, line %d: got %q, want a match for %q", i+1, lines[i], re)
		}
	}
}

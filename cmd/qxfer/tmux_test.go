package main

import (
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestProgressInTerminal runs a real push inside a tmux pane, so that
// stderr is a terminal, and reads the screen while it runs and after:
// bars must show (a file bar and the total) and end cleanly, leaving the
// total bar's final state and the summary. Stdout goes to a file, which
// must hold the summary and no escape codes. It is skipped when tmux is
// not installed.
func TestProgressInTerminal(t *testing.T) {
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux is not installed")
	}
	bin, err := exec.LookPath("qxfer") // TestMain put it on $PATH
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	chome, shome, root := filepath.Join(dir, "c"), filepath.Join(dir, "s"), filepath.Join(dir, "root")
	for _, d := range []string{shome, root} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fp, err := exec.Command(bin, "--home", chome, "id").Output()
	if err != nil {
		t.Fatalf("qxfer id: %v", err)
	}
	if err := os.WriteFile(filepath.Join(shome, "authorized_clients"), fp, 0o644); err != nil {
		t.Fatal(err)
	}
	addr := startServe(t, bin, shome, root)

	// 24 MiB at 12 MiB/s: about two seconds of bars.
	src := filepath.Join(dir, "big.bin")
	b := make([]byte, 24<<20)
	rand.Read(b)
	if err := os.WriteFile(src, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.txt")
	sock := filepath.Join(dir, "tmux.sock")
	script := "cd " + shellQuote(dir) + " && GORACE=atexit_sleep_ms=10 " + shellQuote(bin) + " --home " + shellQuote(chome) +
		" push --limit-rate 12M big.bin " + addr + ":up > " + shellQuote(out) +
		"; echo EXIT=$?; sleep 60"
	tm := func(args ...string) *exec.Cmd {
		c := exec.Command(tmux, append([]string{"-S", sock, "-f", "/dev/null"}, args...)...)
		c.Env = append(os.Environ(), "TERM=xterm-256color")
		return c
	}
	if b, err := tm("new-session", "-d", "-x", "200", "-y", "30", script).CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, b)
	}
	t.Cleanup(func() { tm("kill-server").Run() })
	capture := func() string {
		b, err := tm("capture-pane", "-p").Output()
		if err != nil {
			t.Fatalf("tmux capture-pane: %v", err)
		}
		return string(b)
	}
	waitScreen := func(what string, re *regexp.Regexp) string {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		var screen string
		for time.Now().Before(deadline) {
			if screen = capture(); re.MatchString(screen) {
				return screen
			}

			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("screen never showed %s; last screen:\n%s", what, screen)
		return ""
	}

	during := waitScreen("a file bar above the total bar", regexp.MustCompile(
		`(?m)^big\.bin +\d+ % \[[=>-]+\] +[\d.]+ [KMG]?i?B/s.*\n^total +0/1 files +\[[=>-]+\] +[\d.]+ [KMG]?i?B / 24\.0 MiB`))
	t.Logf("during:\n%s", strings.TrimRight(during, "\n"))

	after := waitScreen("the end of the command", regexp.MustCompile(`(?m)^EXIT=\d+$`))
	t.Logf("after:\n%s", strings.TrimRight(after, "\n"))
	lines := nonEmptyLines(after)
	want := []*regexp.Regexp{
		regexp.MustCompile(`^qxfer: new server `),
		regexp.MustCompile(`^qxfer: pinned in `),
		regexp.MustCompile(`^total +1/1 files +\[=+\] +24\.0 MiB / 24\.0 MiB +[\d.]+ [KMG]?i?B/s *$`),
		regexp.MustCompile(`^EXIT=0$`),
	}
	if len(lines) != len(want) {
		t.Fatalf("after: got %d lines, want %d (notices, the final total bar, EXIT=0):\n%s", len(lines), len(want), after)
	}
	for i, re := range want {
		if !re.MatchString(lines[i]) {
			t.Errorf("after, line %d: got %q, want a match for %q", i+1, lines[i], re)
		}
	}

	stdout, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^1 file pushed \(24\.0 MiB in .*\n  pushed 1, up to date 0\n  rtt `).Match(stdout) {
		t.Errorf("stdout: got %q, want the summary", stdout)
	}
	if strings.ContainsRune(string(stdout), '\x1b') {
		t.Errorf("stdout has escape codes: %q", stdout)
	}
}

// startServe starts "qxfer serve" on a loopback port and returns its
// address; the server is stopped with SIGINT at the end of the test.
func startServe(t *testing.T, bin, home, root string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--home", home, "serve", "--listen", "127.0.0.1:0", "--root", root)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=10")
	banner := &bannerWriter{addr: make(chan string, 1)}
	cmd.Stdout = banner
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := cmd.Wait(); err != nil && cmd.ProcessState.ExitCode() != 0 {
			t.Errorf("qxfer serve: %v", err)
		}
	})
	select {
	case addr := <-banner.addr:
		return addr
	case <-time.After(20 * time.Second):
		t.Fatalf("qxfer serve printed no banner; stdout: %q", banner.text())
		return ""
	}
}

// bannerWriter is a server's stdout: it sends the address of the
// "qxfer serving ROOT on ADDR" line on addr once, and keeps the rest.
type bannerWriter struct {
	addr chan string

	// mu guards the following fields.
	mu   sync.Mutex
	buf  []byte
	sent bool
}

func (w *bannerWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if w.sent {
		return len(p), nil
	}
	for _, line := range strings.Split(string(w.buf), "\n") {
		if rest, ok := strings.CutPrefix(line, "qxfer serving "); ok && strings.Contains(rest, " on ") {
			w.addr <- rest[strings.LastIndex(rest, " on ")+len(" on "):]
			w.sent = true
			break
		}
	}
	return len(p), nil
}

func (w *bannerWriter) text() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}

func nonEmptyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// shellQuote quotes s for sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

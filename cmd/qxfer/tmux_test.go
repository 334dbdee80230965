package main

import (
	"context"
	"os"
	"os/exec"
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
	r := newTmuxRig(t)
	// 24 MiB at 12 MiB/s: about two seconds of bars.
	out := r.pushInPane("big.bin", 24<<20, "12M", "up")

	during := r.waitScreen("a file bar above the total bar", regexp.MustCompile(
		`(?m)^big\.bin +\d+ % \[[=>-]+\] +[\d.]+ [KMG]?i?B/s.*\n^total +0/1 files +\[[=>-]+\] +[\d.]+ [KMG]?i?B / 24\.0 MiB`))
	t.Logf("during:\n%s", strings.TrimRight(during, "\n"))

	after := r.waitScreen("the end of the command", regexp.MustCompile(`(?m)^EXIT=\d+$`))
	t.Logf("after:\n%s", strings.TrimRight(after, "\n"))
	matchLines(t, "notices, the final total bar, EXIT=0", after, []*regexp.Regexp{
		regexp.MustCompile(`^qxfer: new server `),
		regexp.MustCompile(`^qxfer: pinned in `),
		regexp.MustCompile(`^total +1/1 files +\[=+\] +24\.0 MiB / 24\.0 MiB +[\d.]+ [KMG]?i?B/s *$`),
		regexp.MustCompile(`^EXIT=0$`),
	})

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

// TestProgressInterruptInTerminal interrupts a push with Ctrl-C (sent as a
// key to a real tmux pane, as a user would) while its bars are drawn: the
// screen must be left clean, the bars' final state and the notices on
// lines of their own, with no bar half overwritten by the terminal's "^C"
// echo, and the summary must count nothing as pushed. It is skipped when
// tmux is not installed.
func TestProgressInterruptInTerminal(t *testing.T) {
	r := newTmuxRig(t)
	// 64 MiB at 4 MiB/s: 16 seconds of bars, interrupted after one.
	out := r.pushInPane("big.bin", 64<<20, "4M", "up/")

	r.waitScreen("a file bar with bytes moved", regexp.MustCompile(`(?m)^big\.bin +[1-9]\d* % `))
	r.keys("C-c")
	after := r.waitScreen("the end of the command", regexp.MustCompile(`(?m)^EXIT=\d+$`))
	t.Logf("after:\n%s", strings.TrimRight(after, "\n"))
	matchLines(t, "notices, the total bar, the cancelled file, the count, the hint, EXIT=130", after, []*regexp.Regexp{
		regexp.MustCompile(`^qxfer: new server `),
		regexp.MustCompile(`^qxfer: pinned in `),
		regexp.MustCompile(`^total +0/1 files +\[[=>-]+\] +[\d.]+ [KMG]?i?B / 64\.0 MiB +[\d.]+ [KMG]?i?B/s *$`),
		regexp.MustCompile(`^qxfer: up/big\.bin: interrupted by the user$`),
		regexp.MustCompile(`^qxfer: interrupted: 1 file cancelled$`),
		regexp.MustCompile(`^hint: run the same command again to resume`),
		regexp.MustCompile(`^EXIT=130$`),
	})
	stdout, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^0 files pushed \(0 B in .*\), 1 cancelled \([\d.]+ [KM]iB moved, kept to resume\)\n`).Match(stdout) {
		t.Errorf("stdout: got %q, want the summary", stdout)
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

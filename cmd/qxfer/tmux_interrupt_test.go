package main

import (
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestProgressInterruptInTerminal interrupts a push with Ctrl-C (sent as a
// key to a real tmux pane, as a user would) while its bars are drawn: the
// screen must be left clean, the bars' final state and the notices on
// lines of their own, with no bar half overwritten by the terminal's "^C"
// echo, and the summary must count nothing as pushed. It is skipped when
// tmux is not installed.
func TestProgressInterruptInTerminal(t *testing.T) {
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

	// 64 MiB at 4 MiB/s: 16 seconds of bars, interrupted after one.
	src := filepath.Join(dir, "big.bin")
	b := make([]byte, 64<<20)
	rand.Read(b)
	if err := os.WriteFile(src, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.txt")
	sock := filepath.Join(dir, "tmux.sock")
	script := "cd " + shellQuote(dir) + " && GORACE=atexit_sleep_ms=10 " + shellQuote(bin) + " --home " + shellQuote(chome) +
		" push --limit-rate 4M big.bin " + addr + ":up/ > " + shellQuote(out) +
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

	waitScreen("a file bar with bytes moved", regexp.MustCompile(`(?m)^big\.bin +[1-9]\d* % `))
	if b, err := tm("send-keys", "C-c").CombinedOutput(); err != nil {
		t.Fatalf("tmux send-keys: %v\n%s", err, b)
	}
	after := waitScreen("the end of the command", regexp.MustCompile(`(?m)^EXIT=\d+$`))
	t.Logf("after:\n%s", strings.TrimRight(after, "\n"))
	lines := nonEmptyLines(after)
	want := []*regexp.Regexp{
		regexp.MustCompile(`^qxfer: new server `),
		regexp.MustCompile(`^qxfer: pinned in `),
		regexp.MustCompile(`^total +0/1 files +\[[=>-]+\] +[\d.]+ [KMG]?i?B / 64\.0 MiB +[\d.]+ [KMG]?i?B/s *$`),
		regexp.MustCompile(`^qxfer: up/big\.bin: interrupted by the user$`),
		regexp.MustCompile(`^qxfer: interrupted: 1 file cancelled$`),
		regexp.MustCompile(`^hint: run the same command again to resume`),
		regexp.MustCompile(`^EXIT=130$`),
	}
	if len(lines) != len(want) {
		t.Fatalf("after: got %d lines, want %d (notices, the total bar, the cancelled file, the count, the hint, EXIT=130):\n%s", len(lines), len(want), after)
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
	if !regexp.MustCompile(`^0 files pushed \(0 B in .*\), 1 cancelled \([\d.]+ [KM]iB moved, kept to resume\)\n`).Match(stdout) {
		t.Errorf("stdout: got %q, want the summary", stdout)
	}
}

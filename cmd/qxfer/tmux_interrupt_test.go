package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

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

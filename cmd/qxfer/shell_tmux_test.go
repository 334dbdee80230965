package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestShellCompletionInTerminal runs the shell in a tmux pane, so that
// it reads a terminal, and presses Tab: a command name, a remote
// directory, a remote file in the directory cd moved to (one created
// after ls had listed that directory, so the listing must be the one cd
// fetched again), a name holding a blank (escaped as it is completed), and a
// local directory. The completed get must then run. It is skipped when
// tmux is not installed.
func TestShellCompletionInTerminal(t *testing.T) {
	r := newTmuxRig(t)
	dir, root := r.dir, r.root
	for _, d := range []string{filepath.Join(root, "tree"), filepath.Join(dir, "work", "localdir")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(root, "tree", "other.txt"), "other")
	write(filepath.Join(root, "tree", "my file.txt"), "blank")
	r.start("cd "+shellQuote(filepath.Join(dir, "work"))+" && "+r.qxfer()+" shell "+r.addr+"; echo EXIT=$?; sleep 60", 200, 40)
	waitScreen := func(what string, re *regexp.Regexp) { t.Helper(); r.waitScreen(what, re) }
	keys := r.keys

	waitScreen("the prompt", regexp.MustCompile(`(?m)^qxfer> ?$`))
	// A command name.
	keys("jo", "Tab")
	waitScreen("jobs completed", regexp.MustCompile(`(?m)^qxfer> jobs ?$`))
	keys("C-u")
	// ls keeps the listing of tree, without late-data.bin.
	keys("ls tree", "Enter")
	waitScreen("the listing", regexp.MustCompile(`(?m) other\.txt$`))
	write(filepath.Join(root, "tree", "late-data.bin"), "late")
	// A remote directory, from the root's listing.
	keys("cd tr", "Tab")
	waitScreen("tree/ completed", regexp.MustCompile(`(?m)^qxfer> cd tree/$`))
	// cd fetches the listing again: late-data.bin is in it.
	keys("Enter")
	keys("get la", "Tab")
	waitScreen("late-data.bin completed", regexp.MustCompile(`(?m)^qxfer> get late-data\.bin ?$`))
	keys("Enter")
	waitScreen("the get done", regexp.MustCompile(`(?m)^\[1\] done pull tree/late-data\.bin \(4 B\)$`))
	// A name with a blank comes back escaped, and the get runs.
	keys("get my", "Tab")
	waitScreen("my file.txt completed", regexp.MustCompile(`(?m)^qxfer> get my\\ file\.txt ?$`))
	keys("Enter")
	waitScreen("the second get done", regexp.MustCompile(`(?m)^\[2\] done pull tree/my file\.txt \(5 B\)$`))
	// A local directory.
	keys("lcd lo", "Tab")
	waitScreen("localdir/ completed", regexp.MustCompile(`(?m)^qxfer> lcd localdir/$`))
	keys("C-u", "quit", "Enter")
	waitScreen("the end of the shell", regexp.MustCompile(`(?m)^EXIT=0$`))

	for name, want := range map[string]string{"late-data.bin": "late", "my file.txt": "blank"} {
		b, err := os.ReadFile(filepath.Join(dir, "work", name))
		if err != nil || string(b) != want {
			t.Errorf("%s: got %q, %v; want %q", name, b, err, want)
		}
	}
	screen := r.capture()
	for _, l := range strings.Split(screen, "\n") {
		if strings.HasPrefix(l, "qxfer: ") && !strings.HasPrefix(l, "qxfer: new server") && !strings.HasPrefix(l, "qxfer: pinned") {
			t.Errorf("an error on the screen: %q\n%s", l, screen)
		}
	}
}

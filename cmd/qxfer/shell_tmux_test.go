package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestShellCompletionInTerminal runs the shell in a tmux pane, so that
// it reads a terminal, and presses Tab: a command name, a remote
// directory, a remote file in the directory cd moved to (one created
// after ls had listed that directory, so the listing must be the one cd
// fetched again), a name holding a blank (escaped as it is completed), and a
// local directory. The completed get must then run. It is skipped when
// tmux is not installed.
func TestShellCompletionInTerminal(t *testing.T) {
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
	for _, d := range []string{shome, root, filepath.Join(root, "tree"), filepath.Join(dir, "work", "localdir")} {
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
	fp, err := exec.Command(bin, "--home", chome, "id").Output()
	if err != nil {
		t.Fatalf("qxfer id: %v", err)
	}
	write(filepath.Join(shome, "authorized_clients"), string(fp))
	addr := startServe(t, bin, shome, root)

	sock := filepath.Join(dir, "tmux.sock")
	script := "cd " + shellQuote(filepath.Join(dir, "work")) + " && GORACE=atexit_sleep_ms=10 " + shellQuote(bin) +
		" --home " + shellQuote(chome) + " shell " + addr + "; echo EXIT=$?; sleep 60"
	tm := func(args ...string) *exec.Cmd {
		c := exec.Command(tmux, append([]string{"-S", sock, "-f", "/dev/null"}, args...)...)
		c.Env = append(os.Environ(), "TERM=xterm-256color")
		return c
	}
	if b, err := tm("new-session", "-d", "-x", "200", "-y", "40", script).CombinedOutput(); err != nil {
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
	waitScreen := func(what string, re *regexp.Regexp) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		var screen string
		for time.Now().Before(deadline) {
			if screen = capture(); re.MatchString(screen) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("screen never showed %s; last screen:\n%s", what, screen)
	}
	keys := func(k ...string) {
		t.Helper()
		if b, err := tm(append([]string{"send-keys", "-t", "0"}, k...)...).CombinedOutput(); err != nil {
			t.Fatalf("tmux send-keys %q: %v\n%s", k, err, b)
		}
	}

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
	screen := capture()
	for _, l := range strings.Split(screen, "\n") {
		if strings.HasPrefix(l, "qxfer: ") && !strings.HasPrefix(l, "qxfer: new server") && !strings.HasPrefix(l, "qxfer: pinned") {
			t.Errorf("an error on the screen: %q\n%s", l, screen)
		}
	}
}

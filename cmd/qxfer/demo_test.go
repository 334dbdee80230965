package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDemoNoEscapes runs the heading function of scripts/demo-lib.sh
// (which make demo and make demo-s3 source) with stdout a pipe, as when its output goes to a log: it must
// write no escape codes. The whole demo moves 64 MiB; its `say` block is
// what prints them.
func TestDemoNoEscapes(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed")
	}
	src, err := os.ReadFile(filepath.Join("..", "..", "scripts", "demo-lib.sh"))
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile(`(?ms)^if \[ -t 1 \]; then\n.*?^fi\n`).Find(src)
	if block == nil {
		t.Fatal("scripts/demo-lib.sh: no 'if [ -t 1 ]; then ... fi' block defining say")
	}
	out, err := exec.Command(bash, "-c", string(block)+"say hello").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out); strings.ContainsRune(got, '\x1b') || !strings.Contains(got, "== hello") {
		t.Errorf("say on a pipe wrote %q, want \"== hello\" and no escape codes", got)
	}
}

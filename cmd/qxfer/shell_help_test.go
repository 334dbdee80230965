package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestShellHelpAgrees checks that every command the shell completes is
// in its help (which "qxfer shell --help" prints too) and in the README's
// table, and that the shell knows every command its help lists.
func TestShellHelpAgrees(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	start := strings.Index(readme, "### Interactive shell")
	end := strings.Index(readme[start:], "\n### ")
	if start < 0 || end < 0 {
		t.Fatal("README has no Interactive shell section")
	}
	section := readme[start : start+end]
	for _, c := range shellCommands {
		if c == "bye" || c == "exit" {
			continue // quit's other names, as in sftp
		}
		if !regexp.MustCompile(`(?m)^  ` + c + `\b`).MatchString(shellHelp) {
			t.Errorf("%s: not in the shell's help", c)
		}
		if !strings.Contains(section, "`"+c) {
			t.Errorf("%s: not in README's Interactive shell section", c)
		}
	}
	for _, m := range regexp.MustCompile(`(?m)^  ([a-z]+)`).FindAllStringSubmatch(shellHelp, -1) {
		found := false
		for _, c := range shellCommands {
			found = found || c == m[1]
		}
		if !found {
			t.Errorf("%s: in the help, but not completed", m[1])
		}
	}
}

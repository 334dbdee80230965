package main

import (
	"io"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// TestFlagsHaveHelp checks the CLI model: every flag and argument has help
// text, and every environment variable is a QXFER_ one.
func TestFlagsHaveHelp(t *testing.T) {
	parser, err := newParser(&cli{}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var walk func(n *kong.Node)
	walk = func(n *kong.Node) {
		where := n.Path()
		if where == "" {
			where = "qxfer"
		}
		if n.Help == "" && n.Type != kong.ApplicationNode {
			t.Errorf("%s: command has no help", where)
		}
		for _, f := range n.Flags {
			if f.Help == "" {
				t.Errorf("%s --%s: no help", where, f.Name)
			}
			for _, e := range f.Envs {
				if !strings.HasPrefix(e, "QXFER_") {
					t.Errorf("%s --%s: environment variable %s does not start with QXFER_", where, f.Name, e)
				}
			}
		}
		for _, p := range n.Positional {
			if p.Help == "" {
				t.Errorf("%s <%s>: no help", where, p.Name)
			}
		}
		for _, ch := range n.Children {
			walk(ch)
		}
	}
	walk(parser.Model.Node)
}

package main

import (
	"os"
	"path/filepath"
	"strconv"

	"github.com/rogpeppe/go-internal/testscript"
)

// cmdMkFileQ implements "mkfile-q [-env NAME] QUOTED CONTENT": it creates
// the file whose path (relative to $WORK) is the Go string literal QUOTED,
// so that a script can make names holding newlines or ESC, which txtar
// cannot. With -env, $NAME is set to the unquoted path's last element.
func cmdMkFileQ(ts *testscript.TestScript, neg bool, args []string) {
	const usage = "usage: mkfile-q [-env NAME] QUOTED CONTENT"
	if neg {
		ts.Fatalf("unsupported: ! mkfile-q")
	}
	env := ""
	if len(args) > 0 && args[0] == "-env" {
		if len(args) < 2 {
			ts.Fatalf(usage)
		}
		env, args = args[1], args[2:]
	}
	if len(args) != 2 {
		ts.Fatalf(usage)
	}
	p, err := strconv.Unquote(args[0])
	if err != nil {
		ts.Fatalf("mkfile-q: %s is not a Go string literal: %v", args[0], err)
	}
	abs := ts.MkAbs(p)
	ts.Check(os.MkdirAll(filepath.Dir(abs), 0o755))
	ts.Check(os.WriteFile(abs, []byte(args[1]), 0o644))
	if env != "" {
		ts.Setenv(env, filepath.Base(p))
	}
}

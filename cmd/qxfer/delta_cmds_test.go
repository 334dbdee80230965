package main

// The catfiles script command builds a changed version of a file, for
// the delta transfer scripts.

import (
	"os"
	"path/filepath"

	"github.com/rogpeppe/go-internal/testscript"
)

func init() { scriptCmds["catfiles"] = cmdCatFiles }

// cmdCatFiles implements "catfiles OUT IN...": OUT becomes the
// concatenation of the INs (read before OUT is written, so OUT may be one
// of them), keeping OUT's modification time out of the way of rsync's
// quick check by giving it a new one.
func cmdCatFiles(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: catfiles OUT IN...")
	}
	var b []byte
	for _, in := range args[1:] {
		data, err := os.ReadFile(ts.MkAbs(in))
		ts.Check(err)
		b = append(b, data...)
	}
	p := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(filepath.Dir(p), 0o777))
	ts.Check(os.WriteFile(p, b, 0o666))
}

package main

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/qxfer/qxfer/session"
)

type lsCmd struct {
	clientFlags
	Target string `arg:"" name:"HOST[:PORT][:PATH]" predictor:"host" help:"Server and optional path (default: the root)."`
}

// Run prints one entry per line, sorted by name: kind and mode, size,
// modification time, name (directories end in "/"; control characters
// escaped, see printable); with --json one lsEntry per line, exact names.
func (l *lsCmd) Run(ctx context.Context, e *env) error {
	r, err := parseHostArg(l.Target)
	if err != nil {
		return withExit(exitUsage, err)
	}
	c, err := l.connect(ctx, e, r, &lsSession)
	if err != nil {
		return err
	}
	defer c.Close()
	ents, err := c.List(ctx, trimRoot(r.Path))
	if err != nil {
		return err
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name < ents[j].Name })
	for _, en := range ents {
		if e.json {
			if err := writeJSON(e, lsEntryOf(en)); err != nil {
				return err
			}
			continue
		}
		name := en.Name
		kind := "-"
		switch en.Kind {
		case session.KindDir:
			name += "/"
			kind = "d"
		case session.KindSymlink:
			kind = "l"
		case session.KindOther:
			kind = "?"
		}
		fmt.Fprintf(e.stdout, "%s%s %12d %s %s\n", kind, en.Mode.Perm().String()[1:], en.Size, en.MTime.Local().Format(time.DateTime), printable(name))
	}
	return nil
}

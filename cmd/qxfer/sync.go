package main

import (
	"fmt"
	"io"
	"time"

	"github.com/qxfer/qxfer/session"
)

// syncFlags are the flags of push and pull that keep a destination in
// step with its source (issue 18).
type syncFlags struct {
	DryRun         bool `name:"dry-run" short:"n" help:"List what would be sent, updated, skipped as up to date and deleted, with the reason, and change nothing on either side; exits as the real run would."`
	Delete         bool `name:"delete" help:"With -r: after every file has arrived, delete from the destination directory what the source tree does not hold (excluded entries are kept); replaces files that differ (implies --force). A run in which a file failed deletes nothing."`
	DeleteExcluded bool `name:"delete-excluded" help:"With --delete: delete excluded entries from the destination too."`
	MaxDelete      int  `name:"max-delete" placeholder:"N" help:"With --delete: if more than N entries would be deleted, delete none and fail."`
	Update         bool `name:"update" short:"u" help:"Skip files that are newer on the destination (by modification time)."`
	Checksum       bool `name:"checksum" short:"c" help:"Compare files of the same size by content (SHA-256 on both sides) rather than by size and modification time."`
}

// apply checks the sync flags and sets them in o.
func (f *syncFlags) apply(o *session.Options) error {
	switch {
	case f.DeleteExcluded && !f.Delete:
		return withExit(exitUsage, fmt.Errorf("--delete-excluded needs --delete"))
	case f.MaxDelete != 0 && !f.Delete:
		return withExit(exitUsage, fmt.Errorf("--max-delete needs --delete"))
	case f.MaxDelete < 0:
		return withExit(exitUsage, fmt.Errorf("--max-delete must be at least 1"), "to see what would be deleted without deleting, use --dry-run")
	case f.Delete && !o.Recursive:
		return withExit(exitUsage, fmt.Errorf("--delete needs -r"), "--delete keeps a directory tree in step; name the tree with -r")
	}
	o.DryRun, o.Delete, o.DeleteExcluded, o.MaxDelete, o.Update, o.Checksum = f.DryRun, f.Delete, f.DeleteExcluded, f.MaxDelete, f.Update, f.Checksum
	return nil
}

// printActions writes a dry run's listing, or a real run's deletions,
// one action a line: the action, the destination, the reason.
//
//	update    backup/tree/a.txt (size differs)
//	delete    backup/tree/old.txt (not in the source)
func printActions(out io.Writer, acts []session.Action) {
	for _, a := range acts {
		p := printable(a.Path)
		if a.IsDir {
			p += "/"
		}
		switch {
		case a.Kind == session.ActionFail:
			fmt.Fprintf(out, "%-9s %s: %s\n", a.Kind, p, printable(errMessage(a.Err)))
		case a.Reason != "":
			fmt.Fprintf(out, "%-9s %s (%s)\n", a.Kind, p, a.Reason)
		default:
			fmt.Fprintf(out, "%-9s %s\n", a.Kind, p)
		}
	}
}

// printDryRunSummary is the summary line of a dry run.
//
//	dry run: 3 to send, 1 to update, 12 up to date, 2 to delete; nothing was changed
func printDryRunSummary(out io.Writer, rep *session.Report) {
	n := map[session.ActionKind]int{}
	for _, a := range rep.Actions {
		n[a.Kind]++
	}
	fmt.Fprintf(out, "dry run: %d to send, %d to update, %d up to date", n[session.ActionSend], n[session.ActionUpdate], n[session.ActionUpToDate])
	if k := n[session.ActionSkipNewer]; k > 0 {
		fmt.Fprintf(out, ", %d newer on the destination", k)
	}
	fmt.Fprintf(out, ", %d to delete", n[session.ActionDelete])
	if k := n[session.ActionFail]; k > 0 {
		fmt.Fprintf(out, ", %d would fail", k)
	}
	fmt.Fprintln(out, "; nothing was changed")
}

// actionEvent is a dry run's "action" JSON event, or a real run's
// "deleted" event.
type actionEvent struct {
	jsonHead
	Action string `json:"action"` // send, update, uptodate, skip, fail, delete
	Dir    string `json:"dir"`    // push or pull
	Path   string `json:"path"`   // the destination: remote (push) or local (pull)
	Source string `json:"source,omitempty"`
	IsDir  bool   `json:"is_dir,omitempty"`
	Size   int64  `json:"size"`
	Reason string `json:"reason,omitempty"`
	Code   string `json:"code,omitempty"` // of a fail
}

// JSON events of dry runs and deletions.
const (
	evAction  = "action"
	evDeleted = "deleted"
)

func (s *jsonStream) actions(event string, acts []session.Action) {
	now := time.Now()
	for _, a := range acts {
		ev := actionEvent{jsonHead: head(event, now), Action: a.Kind.String(), Dir: a.Dir.String(), Path: a.Path, Source: a.Source, IsDir: a.IsDir, Size: a.Size, Reason: a.Reason}
		if a.Kind == session.ActionFail {
			ev.Code, ev.Reason = codeName(a.Err), errText(a.Err)
		}
		s.emit(ev)
	}
}

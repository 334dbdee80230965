package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/qxfer/qxfer/session"
)

// printDetails writes the lines that follow the first summary line: the
// file counts by outcome, then the connection's figures.
//
//	pushed 2, up to date 3, failed 1
//	rtt 0.4ms, packets 1234 sent / 12 lost (1.0%), migrations 0, reconnects 1
//
// Failed and cancelled counts appear only when they are not zero, as on
// the first line, so that "failed" in the output always means a failure.
func printDetails(out io.Writer, rep *session.Report, st session.SessionStats, verb string) {
	fmt.Fprintf(out, "  %s %d, up to date %d", verb, rep.Count(session.Done), rep.Count(session.Skipped))
	if n := rep.Count(session.Failed); n > 0 {
		fmt.Fprintf(out, ", failed %d", n)
	}
	if n := rep.Count(session.Cancelled); n > 0 {
		fmt.Fprintf(out, ", cancelled %d", n)
	}
	fmt.Fprintln(out)
	loss := ""
	if st.PacketsSent > 0 {
		loss = fmt.Sprintf(" (%.1f%%)", 100*float64(st.PacketsLost)/float64(st.PacketsSent))
	}
	conns := ""
	if st.Connections > 1 {
		conns = fmt.Sprintf(", connections %d", st.Connections)
	}
	fmt.Fprintf(out, "  rtt %s, packets %d sent / %d lost%s, migrations %d, reconnects %d%s\n",
		rtt(st.SmoothedRTT), st.PacketsSent, st.PacketsLost, loss, st.Migrations, st.Reconnects, conns)
}

// rtt shows a round-trip time in milliseconds, with a decimal below 10 ms.
func rtt(d time.Duration) string {
	ms := float64(d.Microseconds()) / 1000
	if ms < 10 {
		return fmt.Sprintf("%.1fms", ms)
	}
	return fmt.Sprintf("%.0fms", ms)
}

// printSummary writes the first summary line on out, after the failures
// on errw. Only finished files count as pushed or pulled, with their
// bytes; the bytes that files which did not finish moved (kept in their
// .part files to resume from) are shown apart, after their count.
//
//	1 file pushed (6 B in 3.976s, 1 B/s), 1 cancelled (410.2 MiB moved, kept to resume)
func printSummary(out, errw io.Writer, rep *session.Report, verb string) {
	printFailures(errw, rep)
	done := rep.Count(session.Done)
	partial := rep.PartialBytes()
	doneBytes := rep.Bytes() - partial
	secs := rep.Duration.Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(doneBytes) / secs
	}
	fmt.Fprintf(out, "%d %s %s (%s in %s, %s/s)", done, plural(done, "file", "files"), verb,
		humanBytes(doneBytes), rep.Duration.Round(time.Millisecond), humanBytes(int64(rate)))
	if n := rep.Count(session.Skipped); n > 0 {
		fmt.Fprintf(out, ", %d up to date", n)
	}
	if n := rep.Count(session.Failed); n > 0 {
		fmt.Fprintf(out, ", %d failed", n)
	}
	if n := rep.Count(session.Cancelled); n > 0 {
		fmt.Fprintf(out, ", %d cancelled", n)
	}
	if partial > 0 {
		fmt.Fprintf(out, " (%s moved, kept to resume)", humanBytes(partial))
	}
	fmt.Fprintln(out)
}

// maxCancelledLines is how many cancelled files printFailures names one
// per line; beyond it they are summarised in one line (an interrupted
// push of 90,000 files printed 71,419 lines).
const maxCancelledLines = 3

// printFailures names each file that failed, with its reason, and the
// cancelled files, one per line when there are few, else in one line.
// Control characters are escaped (printable).
func printFailures(errw io.Writer, rep *session.Report) {
	var cancelled []session.TransferInfo
	failed := 0
	for _, f := range rep.Files {
		switch f.State {
		case session.Failed:
			printFailure(errw, f)
			failed++
		case session.Cancelled:
			cancelled = append(cancelled, f)
		}
	}
	if n := rep.Count(session.Failed) - failed; n > 0 {
		// A streamed batch lists its first failures only.
		fmt.Fprintf(errw, "qxfer: %d more files failed\n", n)
	}
	if len(cancelled) <= maxCancelledLines {
		for _, f := range cancelled {
			printFailure(errw, f)
		}
		return
	}
	names := make([]string, 0, maxCancelledLines)
	for _, f := range cancelled[:maxCancelledLines] {
		names = append(names, printable(displayPath(f)))
	}
	reason := "cancelled"
	if errors.Is(cancelled[0].Err, session.ErrInterrupted) {
		reason = "interrupted"
	}
	n := rep.Count(session.Cancelled) // a streamed batch lists some of them
	fmt.Fprintf(errw, "qxfer: %d files %s: %s and %d more\n", n, reason, strings.Join(names, ", "), n-maxCancelledLines)
}

func printFailure(errw io.Writer, f session.TransferInfo) {
	if f.Err != nil {
		fmt.Fprintf(errw, "qxfer: %s\n", printable(errMessage(f.Err)))
	} else {
		fmt.Fprintf(errw, "qxfer: %s: %s\n", printable(displayPath(f)), f.State)
	}
}

// batchFailed is the last stderr line of a batch in which files did not
// arrive: the counts that are not zero and no names (every failed file
// has its own line above), with a hint to resume when files were
// cancelled. It unwraps to the *session.BatchError, which sets the exit
// status.
type batchFailed struct{ be *session.BatchError }

// batchError wraps a *session.BatchError as a batchFailed; other errors,
// nil included, are returned as they are.
func batchError(err error) error {
	var be *session.BatchError
	if errors.As(err, &be) {
		return batchFailed{be}
	}
	return err
}

func (b batchFailed) Error() string {
	var parts []string
	if b.be.Failed > 0 {
		parts = append(parts, fmt.Sprintf("%d %s failed", b.be.Failed, plural(b.be.Failed, "file", "files")))
	}
	if b.be.Cancelled > 0 {
		parts = append(parts, fmt.Sprintf("%d %s cancelled", b.be.Cancelled, plural(b.be.Cancelled, "file", "files")))
	}
	msg := strings.Join(parts, ", ")
	if b.be.Interrupted {
		msg = "interrupted: " + msg
	}
	return msg
}

func (b batchFailed) Unwrap() error { return b.be }

// Hint says how to resume cancelled files.
func (b batchFailed) Hint() []string {
	if b.be.Cancelled == 0 {
		return nil
	}
	return []string{"run the same command again to resume: finished files are skipped as up to date, the others go on from their .part files"}
}

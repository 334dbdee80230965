package main

import (
	"fmt"
	"io"
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

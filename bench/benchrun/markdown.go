//go:build linux

package main

import (
	"fmt"
	"strings"
)

// writeNotes ends a scenario's section of the report with its notes: a
// Markdown list, then a blank line; nothing when there are none.
func writeNotes(w *strings.Builder, notes []string) {
	for _, n := range notes {
		fmt.Fprintf(w, "- %s\n", n)
	}
	if len(notes) > 0 {
		w.WriteString("\n")
	}
}

package certs

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// scanLines calls fn for every line of r that is neither blank nor a '#'
// comment, passing the 1-based line number and the line with surrounding
// whitespace trimmed. Errors, from fn or from reading, are prefixed with
// "name:line: " ("line N: " when name is empty).
func scanLines(r io.Reader, name string, fn func(n int, line string) error) error {
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if err := fn(n, line); err != nil {
			return lineError(name, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return lineError(name, n+1, err)
	}
	return nil
}

// lineError prefixes err with a file position.
func lineError(name string, line int, err error) error {
	if name == "" {
		return fmt.Errorf("line %d: %w", line, err)
	}
	return fmt.Errorf("%s:%d: %w", name, line, err)
}

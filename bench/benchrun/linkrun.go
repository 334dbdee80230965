//go:build linux

package main

import (
	"context"
	"fmt"
	"os/exec"
	"time"
)

// runCounted runs the client cmd (named name) to its end, at most
// timeout, and counts the IP bytes it moved both ways on w's link:
// linkem's counters before the start and after the exit, once the last
// packets have landed (two one-way delays later). It returns the exited
// process (wall time, output) and those bytes.
func runCounted(ctx context.Context, w *world, name string, cmd *exec.Cmd, timeout time.Duration) (*proc, uint64, error) {
	s0, err := w.link.stats(ctx)
	if err != nil {
		return nil, 0, err
	}
	cli, err := spawn(name, cmd, false)
	if err != nil {
		return nil, 0, err
	}
	if err := cli.wait(timeout); err != nil {
		return nil, 0, fmt.Errorf("%s: %s", name, fmtErr(cli))
	}
	time.Sleep(2 * w.link.spec.Delay)
	s1, err := w.link.stats(ctx)
	if err != nil {
		return nil, 0, err
	}
	return cli, s1.AB.OutBytes - s0.AB.OutBytes + s1.BA.OutBytes - s0.BA.OutBytes, nil
}

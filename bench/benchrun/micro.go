//go:build linux

package main

import (
	"context"
	"os/exec"
	"strings"
)

// Micro is one `go test -bench` invocation and what it printed.
type Micro struct {
	Cmd    string `json:"cmd"`
	Output string `json:"output"`
	Err    string `json:"error,omitempty"`
}

// sessionBenchmarks are the data path benchmarks of package session that
// make bench runs. Others there (BenchmarkPoolLossy pushes for 15 s per
// iteration and pool size, several minutes in all; S3 measures the same on
// a real emulated link) are left to `go test -bench` by hand.
const sessionBenchmarks = "^Benchmark(PushLoopback64MiB|PushManySmallRTT|PullManySmallRTT)$"

// microbench runs the frame codec and data path benchmarks with
// -benchmem. The session benchmarks run a fixed number of iterations: each
// one is a whole transfer (through a 50 ms RTT proxy for the RTT ones).
func microbench(ctx context.Context, repo string, quick bool) []Micro {
	wireTime, sessTime := "1s", "3x"
	if quick {
		wireTime, sessTime = "100ms", "1x"
	}
	cmds := [][]string{
		{"go", "test", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", wireTime, "./session/internal/wire/"},
		{"go", "test", "-run", "^$", "-bench", sessionBenchmarks, "-benchmem", "-benchtime", sessTime, "./session/"},
	}
	var out []Micro
	for _, c := range cmds {
		cmd := exec.CommandContext(ctx, c[0], c[1:]...)
		cmd.Dir = repo
		b, err := cmd.CombinedOutput()
		m := Micro{Cmd: strings.Join(c, " ")}
		var keep []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "Benchmark") || strings.HasPrefix(l, "cpu:") || strings.HasPrefix(l, "pkg:") ||
				strings.HasPrefix(l, "ok") || strings.HasPrefix(l, "FAIL") || strings.HasPrefix(l, "---") || strings.HasPrefix(l, "    ") {
				keep = append(keep, l)
			}
		}
		m.Output = strings.Join(keep, "\n")
		if err != nil {
			m.Err = err.Error()
			if m.Output == "" {
				m.Output = tail(string(b))
			}
		}
		out = append(out, m)
	}
	return out
}

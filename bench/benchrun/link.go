//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/qxfer/qxfer/bench/internal/emu"
	"github.com/qxfer/qxfer/bench/internal/netns"
)

// linkSpec is the emulated link of a scenario (the same both ways).
type linkSpec struct {
	Delay time.Duration `json:"one_way_delay_ns"`
	Rate  int64         `json:"rate_bps"`
	Loss  float64       `json:"loss"`
}

func (s linkSpec) String() string {
	out := fmt.Sprintf("%v RTT, %s", 2*s.Delay, emu.FormatRate(s.Rate))
	if s.Loss > 0 {
		out += fmt.Sprintf(", %g%% loss each way", s.Loss*100)
	}
	return out
}

// linkProc is a running linkem process.
type linkProc struct {
	p        *proc
	spec     linkSpec
	NSA, NSB string
}

func startLink(ctx context.Context, bin string, s linkSpec) (*linkProc, error) {
	args := []string{"-delay", s.Delay.String(), "-rate", fmt.Sprint(s.Rate), "-loss", fmt.Sprint(s.Loss)}
	p, err := spawn("linkem", exec.Command(bin, args...), false)
	if err != nil {
		return nil, err
	}
	line, err := p.out.waitLine(ctx, `"event":"ready"`, 15*time.Second)
	if err != nil {
		p.stop(syscall.SIGTERM)
		return nil, fmt.Errorf("linkem: %w: %s", err, p.errb.String())
	}
	var ready struct {
		NSA string `json:"ns_a"`
		NSB string `json:"ns_b"`
	}
	if err := json.Unmarshal([]byte(line), &ready); err != nil {
		p.stop(syscall.SIGTERM)
		return nil, fmt.Errorf("linkem ready line: %w", err)
	}
	return &linkProc{p: p, spec: s, NSA: ready.NSA, NSB: ready.NSB}, nil
}

// stats asks linkem for its counters (SIGUSR2) and waits for the answer.
func (l *linkProc) stats(ctx context.Context) (emu.Stats, error) {
	if err := l.p.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		return emu.Stats{}, err
	}
	line, err := l.p.out.waitLine(ctx, `"event":"stats"`, 5*time.Second)
	if err != nil {
		return emu.Stats{}, fmt.Errorf("linkem stats: %w", err)
	}
	var ev struct {
		Stats emu.Stats `json:"stats"`
	}
	err = json.Unmarshal([]byte(line), &ev)
	return ev.Stats, err
}

func (l *linkProc) cpu() float64 { return cpuSeconds(l.p.pid()) }

func (l *linkProc) close() {
	l.p.stop(syscall.SIGTERM)
	// linkem deletes its namespaces on SIGTERM; make sure of it.
	for _, ns := range []string{l.NSA, l.NSB} {
		if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), ns) {
			netns.Delete(ns)
		}
	}
}

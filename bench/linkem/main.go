//go:build linux

// Command linkem emulates a network link between two network namespaces:
// one-way delay, jitter, random loss, a rate limit with a drop-tail queue
// and a blackhole switch, per direction. The kernel here has no netem, so
// packets travel through two TUN devices and a user-space forwarder
// (package bench/internal/emu). Needs root and /dev/net/tun.
//
//	linkem [flags]            bring the link up and run until SIGINT/SIGTERM
//	linkem cleanup [-all]     delete namespaces left behind by dead runs
//
// When the link is up, linkem prints one JSON line on stdout:
//
//	{"event":"ready","ns_a":"lkm-123-1-a","ns_b":"lkm-123-1-b","addr_a":"10.77.0.1","addr_b":"10.77.0.2",...}
//
// Then run programs with `ip netns exec NS_A ...` and `ip netns exec NS_B ...`.
// SIGUSR1 toggles the blackhole (and prints {"event":"blackhole","on":...}),
// SIGUSR2 prints {"event":"stats",...} with the counters of both directions
// (a is the client side by convention: "ab" is A to B). The same stats line
// is printed on exit. Namespaces are deleted on exit, also after SIGINT,
// SIGTERM or a forwarding error; `linkem cleanup` removes what a SIGKILL
// left behind.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/qxfer/qxfer/bench/internal/emu"
	"github.com/qxfer/qxfer/bench/internal/netns"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "cleanup" {
		fs := flag.NewFlagSet("cleanup", flag.ExitOnError)
		all := fs.Bool("all", false, "delete every linkem namespace, also those of running processes")
		fs.Parse(os.Args[2:])
		names, err := netns.Cleanup(*all)
		for _, n := range names {
			fmt.Println("deleted", n)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "linkem:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "linkem:", err)
		os.Exit(1)
	}
}

// dirFlags are the flags of one direction; unset ones take the shared value.
type dirFlags struct {
	delay, jitter *time.Duration
	loss          *float64
	rate          *int64
	queue         *int
}

func defineDir(fs *flag.FlagSet, suffix, what string) *dirFlags {
	d := new(dirFlags)
	optional(fs, "delay"+suffix, "one-way delay "+what+" (e.g. 25ms)", &d.delay, time.ParseDuration)
	optional(fs, "jitter"+suffix, "uniform jitter ± "+what+" (never reorders)", &d.jitter, time.ParseDuration)
	optional(fs, "loss"+suffix, "random loss probability "+what+" (e.g. 0.01)", &d.loss, func(s string) (float64, error) {
		var v float64
		_, err := fmt.Sscan(s, &v)
		return v, err
	})
	optional(fs, "rate"+suffix, "rate limit "+what+" (e.g. 200mbit; 0 = unlimited)", &d.rate, emu.ParseRate)
	optional(fs, "queue"+suffix, "drop-tail queue in bytes "+what+" (default: rate x 2 x delay, at least 64k)", &d.queue, emu.ParseSize)
	return d
}

// optional defines a flag that, when given, points *dst at what parse
// makes of its value.
func optional[T any](fs *flag.FlagSet, name, usage string, dst **T, parse func(string) (T, error)) {
	fs.Func(name, usage, func(s string) error {
		v, err := parse(s)
		*dst = &v
		return err
	})
}

func (d *dirFlags) apply(base emu.Dir) emu.Dir {
	override(&base.Delay, d.delay)
	override(&base.Jitter, d.jitter)
	override(&base.Loss, d.loss)
	override(&base.Rate, d.rate)
	override(&base.Queue, d.queue)
	return base
}

// override sets *dst to *v if v is set.
func override[T any](dst, v *T) {
	if v != nil {
		*dst = *v
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("linkem", flag.ExitOnError)
	both := defineDir(fs, "", "in both directions")
	ab := defineDir(fs, "-ab", "from A to B")
	ba := defineDir(fs, "-ba", "from B to A")
	mtu := fs.Int("mtu", 1500, "MTU of both TUN devices")
	hole := fs.Bool("blackhole", false, "start with the blackhole on")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: linkem [flags]\n       linkem cleanup [-all]\n\nflags:\n")
		fs.PrintDefaults()
	}
	fs.Parse(args)
	shared := both.apply(emu.Dir{})
	cfg := emu.Config{AB: ab.apply(shared), BA: ba.apply(shared), MTU: *mtu, Blackhole: *hole}

	// Signals first, so a Ctrl-C during setup still reaches the cleanup.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	l, err := emu.Up(cfg)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.Encode(map[string]any{
		"event": "ready", "ns_a": l.NSA, "ns_b": l.NSB, "dev_a": l.DevA, "dev_b": l.DevB,
		"addr_a": emu.AddrA, "addr_b": emu.AddrB, "ab": cfg.AB.String(), "ba": cfg.BA.String(), "pid": os.Getpid(),
	})
	stats := func() { enc.Encode(map[string]any{"event": "stats", "stats": l.Stats(), "blackhole": l.Blackhole()}) }
	for {
		select {
		case s := <-sigs:
			switch s {
			case syscall.SIGUSR1:
				l.SetBlackhole(!l.Blackhole())
				enc.Encode(map[string]any{"event": "blackhole", "on": l.Blackhole()})
				continue
			case syscall.SIGUSR2:
				stats()
				continue
			}
		case <-l.Failed():
		}
		stats()
		return l.Close()
	}
}

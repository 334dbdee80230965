//go:build linux

package emu

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/qxfer/qxfer/bench/internal/netns"
)

// The addresses of the two ends. Each namespace is private, so every link
// uses the same pair.
const (
	AddrA = "10.77.0.1"
	AddrB = "10.77.0.2"
)

// Config describes a link between namespace A and namespace B. The zero
// value is a perfect wire with a 1500-byte MTU.
type Config struct {
	// AB shapes packets from A to B, BA those from B to A.
	AB, BA Dir
	// MTU of both TUN devices. Default 1500 (quic-go sends at most
	// 1452-byte UDP payloads, TCP 1500-byte IP packets).
	MTU int
	// Blackhole starts the link with every packet dropped. Default off.
	Blackhole bool
}

// Stats holds the counters of both directions.
type Stats struct {
	AB Counters `json:"ab"`
	BA Counters `json:"ba"`
}

// Sub returns s - o.
func (s Stats) Sub(o Stats) Stats { return Stats{AB: s.AB.Sub(o.AB), BA: s.BA.Sub(o.BA)} }

// Link is a running emulated link. Processes run in NSA and NSB (for
// example with netns.Command) and reach each other at AddrA and AddrB.
type Link struct {
	NSA, NSB   string // namespace names
	DevA, DevB string // TUN device names inside them
	Config     Config

	hole   atomic.Bool
	ab, ba *pipe
	files  []*os.File
	wg     sync.WaitGroup
	failed chan struct{} // closed when a pipe stops on its own
	once   sync.Once     // teardown runs once

	// mu guards the following fields.
	mu  sync.Mutex
	err error
}

// Up creates the namespaces and devices and starts forwarding. On error
// nothing is left behind. Needs root and /dev/net/tun.
func Up(cfg Config) (l *Link, err error) {
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	for _, d := range []Dir{cfg.AB, cfg.BA} {
		if err := d.validate(); err != nil {
			return nil, err
		}
	}
	cfg.AB, cfg.BA = cfg.AB.populate(), cfg.BA.populate()
	base := netns.NewBase()
	l = &Link{NSA: base + "-a", NSB: base + "-b", Config: cfg, failed: make(chan struct{})}
	l.hole.Store(cfg.Blackhole)
	defer func() {
		if err != nil {
			l.teardown()
		}
	}()
	for _, ns := range []string{l.NSA, l.NSB} {
		if err := netns.Add(ns); err != nil {
			return nil, err
		}
	}
	fa, err := l.device(l.NSA, &l.DevA, AddrA, AddrB)
	if err != nil {
		return nil, err
	}
	fb, err := l.device(l.NSB, &l.DevB, AddrB, AddrA)
	if err != nil {
		return nil, err
	}
	seed := rand.Uint64()
	l.ab = newPipe(fa, fb, cfg.AB, cfg.MTU, &l.hole, seed)
	l.ba = newPipe(fb, fa, cfg.BA, cfg.MTU, &l.hole, seed+1)
	for _, p := range []*pipe{l.ab, l.ba} {
		l.wg.Go(func() {
			if err := p.read(); err != nil {
				l.fail(err)
			}
		})
		l.wg.Go(p.write)
	}
	return l, nil
}

// device creates a TUN device, moves it into ns and gives it the
// point-to-point addresses local and peer.
func (l *Link) device(ns string, name *string, local, peer string) (*os.File, error) {
	f, dev, err := openTUN("lkm%d")
	if err != nil {
		return nil, err
	}
	l.files = append(l.files, f)
	*name = dev
	if err := netns.IPRoot("link", "set", dev, "netns", ns); err != nil {
		return nil, err
	}
	mtu := strconv.Itoa(l.Config.MTU)
	steps := [][]string{
		{"link", "set", dev, "mtu", mtu, "txqueuelen", "1000", "addrgenmode", "none"},
		{"addr", "add", local + "/32", "peer", peer + "/32", "dev", dev},
		{"link", "set", dev, "up"},
	}
	for _, s := range steps {
		if err := netns.IP(ns, s...); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func (l *Link) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		l.err = err
		close(l.failed)
	}
}

// Failed is closed when forwarding stopped on its own (a device error);
// Close then returns the cause.
func (l *Link) Failed() <-chan struct{} { return l.failed }

// SetBlackhole turns the blackhole on (every packet, also those already
// in flight, is dropped) or off.
func (l *Link) SetBlackhole(on bool) { l.hole.Store(on) }

// Blackhole reports whether the blackhole is on.
func (l *Link) Blackhole() bool { return l.hole.Load() }

// Stats returns the counters so far.
func (l *Link) Stats() Stats { return Stats{AB: l.ab.c.snapshot(), BA: l.ba.c.snapshot()} }

// Close stops forwarding, waits for the forwarder goroutines, and deletes
// the devices and namespaces.
func (l *Link) Close() error {
	l.teardown()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return fmt.Errorf("link: %w", l.err)
	}
	return nil
}

func (l *Link) teardown() { l.once.Do(l.doTeardown) }

func (l *Link) doTeardown() {
	var errs []error
	for _, f := range l.files {
		errs = append(errs, f.Close())
	}
	l.wg.Wait()
	for _, ns := range []string{l.NSA, l.NSB} {
		if _, err := os.Stat("/run/netns/" + ns); err == nil {
			errs = append(errs, netns.Delete(ns))
		}
	}
	if err := errors.Join(errs...); err != nil {
		l.fail(err)
	}
}

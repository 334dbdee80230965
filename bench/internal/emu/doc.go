//go:build linux

// Package emu is a user-space link emulator: two network namespaces, each
// with a TUN device, and a forwarder that copies IP packets between the two
// devices with a one-way delay, jitter, random loss, a rate limit with a
// drop-tail queue and an on/off blackhole, separately for each direction.
//
// The kernel this runs on has no netem, so the delay line lives here. Each
// direction is a pipe: a reader goroutine takes a packet from one TUN
// device, decides its fate (blackhole, loss, queue overflow) and its release
// time, and hands it to a writer goroutine through a FIFO; the writer sleeps
// until the head's release time and writes it to the other device.
//
// Timing model of one direction, for a packet of n bytes arriving at t:
//
//	start   = max(t, busyUntil)          // the link sends one packet at a time
//	backlog = (busyUntil - t) * rate / 8 // bytes queued ahead of this packet
//	drop if backlog + n > queue          // drop-tail
//	busyUntil = start + n*8/rate
//	release = max(busyUntil + delay + U(-jitter, +jitter), previous release)
//
// Release times never decrease, so packets are never reordered and a FIFO
// replaces a timer heap. Loss is drawn before the queue (as netem does).
// Rates count whole IP packets (headers included).
package emu

//go:build linux

package emu

import (
	"math/rand/v2"
	"time"
)

// verdict is what a direction decides for one packet.
type verdict int

const (
	pass verdict = iota
	dropLoss
	dropQueue
)

// sched decides the fate and release time of each packet of one direction.
// It is used by one goroutine only.
type sched struct {
	d           Dir
	rng         *rand.Rand
	busyUntil   time.Time
	lastRelease time.Time
}

func newSched(d Dir, seed uint64) *sched {
	return &sched{d: d.populate(), rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// admit decides what happens to a packet of n bytes arriving at now.
func (s *sched) admit(now time.Time, n int) (time.Time, verdict) {
	if s.d.Loss > 0 && s.rng.Float64() < s.d.Loss {
		return time.Time{}, dropLoss
	}
	depart := now
	if s.d.Rate > 0 {
		if s.busyUntil.Before(now) {
			s.busyUntil = now
		}
		backlog := float64(s.busyUntil.Sub(now)) / float64(time.Second) * float64(s.d.Rate) / 8
		if int(backlog)+n > s.d.Queue {
			return time.Time{}, dropQueue
		}
		s.busyUntil = s.busyUntil.Add(time.Duration(float64(n*8) / float64(s.d.Rate) * float64(time.Second)))
		depart = s.busyUntil
	}
	release := depart.Add(s.d.Delay)
	if s.d.Jitter > 0 {
		release = release.Add(time.Duration((s.rng.Float64()*2 - 1) * float64(s.d.Jitter)))
	}
	if release.Before(now) {
		release = now
	}
	if release.Before(s.lastRelease) {
		release = s.lastRelease
	}
	s.lastRelease = release
	return release, pass
}

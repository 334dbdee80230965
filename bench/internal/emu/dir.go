//go:build linux

package emu

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Dir is the behaviour of one direction of the link. The zero value is a
// perfect wire: no delay, no loss, no rate limit.
type Dir struct {
	// Delay is the fixed one-way delay. Default 0.
	Delay time.Duration
	// Jitter adds a uniform random delay in [-Jitter, +Jitter] to each
	// packet (never reordering packets). Default 0.
	Jitter time.Duration
	// Loss is the probability in [0, 1] that a packet is dropped. Default 0.
	Loss float64
	// Rate is the link rate in bits per second, counting IP packets with
	// their headers. Default 0: unlimited.
	Rate int64
	// Queue is the drop-tail queue limit in bytes while the link is busy.
	// Default 0: the bandwidth-delay product of Rate and twice Delay, at
	// least 64 KiB. Only meaningful with a Rate.
	Queue int
}

func (d Dir) populate() Dir {
	if d.Queue <= 0 && d.Rate > 0 {
		d.Queue = int(float64(d.Rate) / 8 * (2 * d.Delay).Seconds())
		if d.Queue < 64<<10 {
			d.Queue = 64 << 10
		}
	}
	return d
}

func (d Dir) validate() error {
	switch {
	case d.Delay < 0 || d.Jitter < 0:
		return fmt.Errorf("negative delay or jitter")
	case d.Loss < 0 || d.Loss > 1:
		return fmt.Errorf("loss %v outside [0, 1]", d.Loss)
	case d.Rate < 0:
		return fmt.Errorf("negative rate")
	}
	return nil
}

// String is a short description such as "25ms ±0s loss 1% 200mbit q 1250000B".
func (d Dir) String() string {
	d = d.populate()
	s := d.Delay.String()
	if d.Jitter > 0 {
		s += " ±" + d.Jitter.String()
	}
	if d.Loss > 0 {
		s += fmt.Sprintf(" loss %g%%", d.Loss*100)
	}
	if d.Rate > 0 {
		s += " " + FormatRate(d.Rate) + fmt.Sprintf(" queue %dB", d.Queue)
	}
	return s
}

var rateUnits = []struct {
	suffix string
	mult   float64
}{
	{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1},
	{"gbps", 8e9}, {"mbps", 8e6}, {"kbps", 8e3}, {"bps", 8},
}

// ParseRate parses a rate as tc writes it: "200mbit", "1gbit", "500kbit",
// "64000bit" (bits per second) or "25mbps" (bytes per second); a bare
// number is bits per second and "0" means unlimited.
func ParseRate(s string) (int64, error) {
	l := strings.ToLower(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range rateUnits {
		if strings.HasSuffix(l, u.suffix) {
			l, mult = strings.TrimSuffix(l, u.suffix), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(l, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("bad rate %q: want e.g. 200mbit", s)
	}
	return int64(v * mult), nil
}

// FormatRate writes bits per second the way ParseRate reads them.
func FormatRate(bps int64) string {
	switch {
	case bps == 0:
		return "unlimited"
	case bps%1e9 == 0:
		return fmt.Sprintf("%dgbit", bps/1e9)
	case bps%1e6 == 0:
		return fmt.Sprintf("%dmbit", bps/1e6)
	case bps%1e3 == 0:
		return fmt.Sprintf("%dkbit", bps/1e3)
	}
	return fmt.Sprintf("%dbit", bps)
}

// ParseSize parses a byte count with an optional k, m or g suffix (powers
// of 1024), e.g. "1250000", "512k", "2m".
func ParseSize(s string) (int, error) {
	l := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), "B"))
	l = strings.TrimSuffix(l, "b")
	mult := 1
	switch {
	case strings.HasSuffix(l, "k"):
		mult, l = 1<<10, strings.TrimSuffix(l, "k")
	case strings.HasSuffix(l, "m"):
		mult, l = 1<<20, strings.TrimSuffix(l, "m")
	case strings.HasSuffix(l, "g"):
		mult, l = 1<<30, strings.TrimSuffix(l, "g")
	}
	v, err := strconv.ParseFloat(l, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("bad size %q: want e.g. 1250000 or 1m", s)
	}
	return int(v * float64(mult)), nil
}

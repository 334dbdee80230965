package main

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/qxfer/qxfer/session"
)

// rateFlags are shared by the commands that move files.
type rateFlags struct {
	LimitRate string `name:"limit-rate" env:"QXFER_LIMIT_RATE" placeholder:"RATE" help:"Cap the file bytes per second of the whole session: a number of bytes with an optional K, M, G or T suffix (powers of 1024), e.g. 500K, 1.5M, 2G; 0 means no limit."`
}

// limiter parses --limit-rate; it returns nil when there is no limit.
func (f *rateFlags) limiter() (*session.RateLimiter, error) {
	if f.LimitRate == "" {
		return nil, nil
	}
	n, err := parseRate(f.LimitRate)
	if err != nil {
		return nil, withExit(exitUsage, fmt.Errorf("--limit-rate: %w", err), "RATE is bytes per second with an optional K, M, G or T suffix (powers of 1024), for example 500K or 10M")
	}
	return session.NewRateLimiter(n), nil
}

var errBadRate = errors.New("bad rate")

// parseRate reads a rate in bytes per second: a decimal number with an
// optional suffix K, M, G or T (case-insensitive, powers of 1024), which
// may be followed by "B" or "iB". "0" is no limit.
func parseRate(s string) (int64, error) {
	num := strings.TrimSpace(s)
	mult := 1.0
	upper := strings.ToUpper(num)
	for _, unit := range []string{"IB", "B"} {
		if strings.HasSuffix(upper, unit) && len(upper) > len(unit) {
			upper = upper[:len(upper)-len(unit)]
			break
		}
	}
	if i := len(upper) - 1; i > 0 {
		if k := strings.IndexByte("KMGT", upper[i]); k >= 0 {
			mult = math.Pow(1024, float64(k+1))
			upper = upper[:i]
		}
	}
	v, err := strconv.ParseFloat(upper, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || strings.ContainsAny(upper, "xXpPeE_") {
		return 0, fmt.Errorf("%w %q", errBadRate, s)
	}
	v *= mult
	switch {
	case v < 0:
		return 0, fmt.Errorf("%w %q: negative", errBadRate, s)
	case v == 0:
		return 0, nil
	case v < 1:
		return 0, fmt.Errorf("%w %q: less than one byte per second", errBadRate, s)
	case v >= math.MaxInt64/2:
		return 0, fmt.Errorf("%w %q: too large", errBadRate, s)
	}
	return int64(v), nil
}

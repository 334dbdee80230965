package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/qxfer/qxfer/certs"
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

// errBadRate is the error of a bad --limit-rate.
var errBadRate = errors.New("bad rate")

// parseRate reads a rate in bytes per second: a decimal number with an
// optional suffix K, M, G or T (case-insensitive, powers of 1024), which
// may be followed by "B" or "iB". "0" is no limit. A rate is a size per
// second, in the grammar of certs.ParseSize (shared with quota= and
// --min-free); its errors say "bad rate".
func parseRate(s string) (int64, error) {
	n, err := certs.ParseSize(s)
	if err != nil {
		return 0, fmt.Errorf("%w%s", errBadRate, strings.TrimPrefix(err.Error(), certs.ErrBadSize.Error()))
	}
	return n, nil
}

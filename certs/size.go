package certs

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrBadSize is returned (wrapped, with the input) by ParseSize.
var ErrBadSize = errors.New("bad size")

// ParseSize reads a byte count: a decimal number with an optional suffix
// K, M, G or T (case-insensitive, powers of 1024), which may be followed
// by "B" or "iB", e.g. "500K", "1.5G", "2TiB". It is the grammar of the
// client's --limit-rate, used here for quota= and the server's --min-free.
// The result is rounded down to whole bytes; negative, fractional-byte
// and absurdly large (2^62 and up) values are errors wrapping ErrBadSize.
func ParseSize(s string) (int64, error) {
	upper := strings.ToUpper(strings.TrimSpace(s))
	for _, unit := range []string{"IB", "B"} {
		if strings.HasSuffix(upper, unit) && len(upper) > len(unit) {
			upper = upper[:len(upper)-len(unit)]
			break
		}
	}
	mult := 1.0
	if i := len(upper) - 1; i > 0 {
		if k := strings.IndexByte("KMGT", upper[i]); k >= 0 {
			mult = math.Pow(1024, float64(k+1))
			upper = upper[:i]
		}
	}
	v, err := strconv.ParseFloat(upper, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || strings.ContainsAny(upper, "xXpPeE_") {
		return 0, fmt.Errorf("%w %q", ErrBadSize, s)
	}
	v *= mult
	switch {
	case v < 0:
		return 0, fmt.Errorf("%w %q: negative", ErrBadSize, s)
	case v != 0 && v < 1:
		return 0, fmt.Errorf("%w %q: less than one byte", ErrBadSize, s)
	case v >= math.MaxInt64/2:
		return 0, fmt.Errorf("%w %q: too large", ErrBadSize, s)
	}
	return int64(v), nil
}

package main

import (
	"errors"
	"testing"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int64
		err  bool
	}{
		{name: "plain bytes", in: "100000", want: 100000},
		{name: "kibibytes", in: "500K", want: 500 << 10},
		{name: "lower case", in: "500k", want: 500 << 10},
		{name: "mebibytes", in: "10M", want: 10 << 20},
		{name: "fraction", in: "1.5M", want: 3 << 19},
		{name: "gibibytes", in: "2G", want: 2 << 30},
		{name: "tebibytes", in: "1T", want: 1 << 40},
		{name: "B suffix", in: "10MB", want: 10 << 20},
		{name: "iB suffix", in: "10MiB", want: 10 << 20},
		{name: "bytes with B", in: "512B", want: 512},
		{name: "spaces", in: " 2M ", want: 2 << 20},
		{name: "zero is no limit", in: "0", want: 0},
		{name: "zero with unit", in: "0M", want: 0},
		{name: "bits", in: "10Mbit", err: true},
		{name: "negative", in: "-1M", err: true},
		{name: "below one byte", in: "0.5", err: true},
		{name: "empty", in: "", err: true},
		{name: "unit only", in: "M", err: true},
		{name: "exponent", in: "1e6", err: true},
		{name: "hex", in: "0x10", err: true},
		{name: "infinity", in: "inf", err: true},
		{name: "not a number", in: "NaN", err: true},
		{name: "too large", in: "9999999T", err: true},
		{name: "unknown unit", in: "10X", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRate(tt.in)
			if tt.err {
				if !errors.Is(err, errBadRate) {
					t.Fatalf("parseRate(%q): got %d, %v, want errBadRate", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseRate(%q): got %d, %v, want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

package wire

import (
	"errors"
	"testing"
)

func TestRangeEnd(t *testing.T) {
	if got, want := (Range{Offset: 1 << 20, Length: 300}).End(), uint64(1<<20+300); got != want {
		t.Errorf("End() = %d, want %d", got, want)
	}
}

func TestRangeLimits(t *testing.T) {
	many := make([]Range, MaxRanges+1)
	tests := []struct {
		name    string
		typ     FrameType
		payload []byte
		want    error
	}{
		{"accept with MaxRanges+1", FrameTypeAccept, appendPayload(nil, &Accept{ID: 1, Have: many}), ErrTooManyRanges},
		{"get with MaxRanges+1", FrameTypeGet, appendPayload(nil, &Get{ID: 1, Path: "p", Have: many}), ErrTooManyRanges},
		// A count larger than the payload could hold is refused before
		// anything is allocated for it.
		{"accept huge count", FrameTypeAccept, unhex(t, "01 00 80 00 ff ff"), ErrTruncated},
		{"get huge count", FrameTypeGet, unhex(t, "01 00 00 0000000000000000 00 80 00 ff ff"), ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMessage(tt.typ, tt.payload)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseMessage = %#v, %v; want %v", m, err, tt.want)
			}
		})
	}
}

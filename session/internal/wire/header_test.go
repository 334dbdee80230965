package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/quic-go/quic-go/quicvarint"
)

func TestStreamHeaderExactBytes(t *testing.T) {
	tests := []struct {
		name   string
		h      StreamHeader
		stream string
	}{
		// 0x51 does not fit in one byte (max 63), so the type takes two.
		{"offset 1 MiB", StreamHeader{ID: 7, Offset: 1 << 20}, "4051 07 80100000"},
		{"zero", StreamHeader{}, "4051 00 00"},
		{"max", StreamHeader{ID: quicvarint.Max, Offset: quicvarint.Max}, "4051 ffffffffffffffff ffffffffffffffff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := unhex(t, tt.stream)
			if got := AppendStreamHeader(nil, tt.h); !bytes.Equal(got, want) {
				t.Errorf("AppendStreamHeader:\ngot  %x\nwant %x", got, want)
			}
			fileBytes := []byte("file bytes")
			r := bytes.NewReader(cat(want, fileBytes))
			got, err := ReadStreamHeader(r)
			if err != nil {
				t.Fatalf("ReadStreamHeader: %v", err)
			}
			if got != tt.h {
				t.Errorf("ReadStreamHeader: got %+v, want %+v", got, tt.h)
			}
			if rest, _ := io.ReadAll(r); !bytes.Equal(rest, fileBytes) {
				t.Errorf("bytes after the header: got %q, want %q", rest, fileBytes)
			}
		})
	}
}

func TestReadStreamHeaderErrors(t *testing.T) {
	tests := []struct {
		name   string
		stream string
		want   error
	}{
		{"empty", "", io.EOF},
		{"inside type", "40", io.ErrUnexpectedEOF},
		{"no id", "4051", io.ErrUnexpectedEOF},
		{"inside id", "4051 40", io.ErrUnexpectedEOF},
		{"no offset", "4051 07", io.ErrUnexpectedEOF},
		{"inside offset", "4051 07 801000", io.ErrUnexpectedEOF},
		{"one-byte type", "11 07 00", ErrUnknownStreamType},
		{"http3 control stream", "00 04 00", ErrUnknownStreamType},
		{"type 0x52", "4052 07 00", ErrUnknownStreamType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ReadStreamHeader(quicvarint.NewReader(iotest.OneByteReader(bytes.NewReader(unhex(t, tt.stream)))))
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %+v, %v; want %v", h, err, tt.want)
			}
		})
	}
}

func TestReadStreamHeaderStopsAtType(t *testing.T) {
	// A stream of the wrong type is rejected after its first varint,
	// without reading on.
	r := quicvarint.NewReader(io.MultiReader(bytes.NewReader([]byte{0x11}), iotest.ErrReader(errPayloadRead)))
	if _, err := ReadStreamHeader(r); !errors.Is(err, ErrUnknownStreamType) {
		t.Fatalf("got %v, want ErrUnknownStreamType", err)
	}
}

func TestRangeHeaderBytes(t *testing.T) {
	got := AppendRangeHeader(nil, 9, 1<<20, 300)
	want := unhex(t, "40 52 09 80 10 00 00 41 2c")
	if !bytes.Equal(got, want) {
		t.Fatalf("range header = %x, want %x", got, want)
	}
	h, err := ReadAnyHeader(bytes.NewReader(got))
	if err != nil || h != (AnyHeader{Type: RangeStream, ID: 9, Offset: 1 << 20, Length: 300}) {
		t.Fatalf("ReadAnyHeader = %+v, %v", h, err)
	}
	for n := 1; n < len(got); n++ {
		if _, err := ReadAnyHeader(bytes.NewReader(got[:n])); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("header cut at %d: err = %v, want unexpected EOF", n, err)
		}
	}
	if _, err := ReadAnyHeader(bytes.NewReader([]byte{0x40, 0x53, 1, 2})); !errors.Is(err, ErrUnknownStreamType) {
		t.Errorf("type 0x53: err = %v", err)
	}
}

func TestRangeLimits(t *testing.T) {
	many := make([]Range, MaxRanges+1)
	payload := (&StripeAccept{ID: 1, Have: many}).Append(nil)
	if _, err := ParseMessage(FrameTypeStripeAccept, payload); !errors.Is(err, ErrTooManyRanges) {
		t.Errorf("%d ranges: err = %v, want ErrTooManyRanges", len(many), err)
	}
	// A count larger than the payload could hold is refused before
	// anything is allocated.
	if _, err := ParseMessage(FrameTypeStripeAccept, unhex(t, "01 80 00 ff ff")); !errors.Is(err, ErrTruncated) {
		t.Errorf("huge count: err = %v", err)
	}
	if _, err := ParseMessage(FrameTypeSeal, unhex(t, "01 00")); !errors.Is(err, ErrBadHash) {
		t.Errorf("seal without hash: err = %v", err)
	}
}

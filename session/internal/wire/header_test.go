package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/quic-go/quic-go/quicvarint"
)

func TestRangeHeaderExactBytes(t *testing.T) {
	tests := []struct {
		name   string
		h      RangeHeader
		stream string
	}{
		// 0x52 does not fit in one byte (max 63), so the type takes two.
		{"1 MiB in", RangeHeader{ID: 9, Offset: 1 << 20, Length: 300}, "4052 09 80100000 412c"},
		{"zero", RangeHeader{}, "4052 00 00 00"},
		{"max", RangeHeader{ID: quicvarint.Max, Offset: quicvarint.Max, Length: quicvarint.Max},
			"4052 ffffffffffffffff ffffffffffffffff ffffffffffffffff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := unhex(t, tt.stream)
			if got := AppendRangeHeader(nil, tt.h); !bytes.Equal(got, want) {
				t.Errorf("AppendRangeHeader:\ngot  %x\nwant %x", got, want)
			}
			fileBytes := []byte("file bytes")
			r := bytes.NewReader(cat(want, fileBytes))
			got, err := ReadRangeHeader(r)
			if err != nil {
				t.Fatalf("ReadRangeHeader: %v", err)
			}
			if got != tt.h {
				t.Errorf("ReadRangeHeader: got %+v, want %+v", got, tt.h)
			}
			if rest, _ := io.ReadAll(r); !bytes.Equal(rest, fileBytes) {
				t.Errorf("bytes after the header: got %q, want %q", rest, fileBytes)
			}
		})
	}
}

func TestRangeHeaderEveryTruncationFails(t *testing.T) {
	b := AppendRangeHeader(nil, RangeHeader{ID: 1 << 40, Offset: 1 << 20, Length: 300})
	if _, err := ReadRangeHeader(bytes.NewReader(nil)); err != io.EOF {
		t.Errorf("empty stream: got %v, want io.EOF", err)
	}
	for n := 1; n < len(b); n++ {
		h, err := ReadRangeHeader(bytes.NewReader(b[:n]))
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("header cut at %d bytes: got %+v, %v; want io.ErrUnexpectedEOF", n, h, err)
		}
	}
}

func TestReadRangeHeaderErrors(t *testing.T) {
	testReadErrors(t, ReadRangeHeader, []readErrorCase{
		{"empty", "", io.EOF},
		{"inside type", "40", io.ErrUnexpectedEOF},
		{"no id", "4052", io.ErrUnexpectedEOF},
		{"inside id", "4052 40", io.ErrUnexpectedEOF},
		{"no offset", "4052 07", io.ErrUnexpectedEOF},
		{"inside offset", "4052 07 801000", io.ErrUnexpectedEOF},
		{"no length", "4052 07 00", io.ErrUnexpectedEOF},
		{"inside length", "4052 07 00 c0000000", io.ErrUnexpectedEOF},
		{"v1 data stream", "4051 07 00", ErrUnknownStreamType},
		{"type 0x53", "4053 07 00 01", ErrUnknownStreamType},
		{"one-byte type", "11 07 00 01", ErrUnknownStreamType},
		{"http3 control stream", "00 04 00", ErrUnknownStreamType},
	})
}

func TestReadRangeHeaderStopsAtType(t *testing.T) {
	// A stream of another type is rejected after its first varint,
	// without reading on.
	for _, typ := range []uint64{0x51, 0x11} {
		r := quicvarint.NewReader(io.MultiReader(bytes.NewReader(quicvarint.Append(nil, typ)), iotest.ErrReader(errPayloadRead)))
		if _, err := ReadRangeHeader(r); !errors.Is(err, ErrUnknownStreamType) {
			t.Errorf("type %#x: got %v, want ErrUnknownStreamType", typ, err)
		}
	}
}

func TestReadRangeHeaderReadError(t *testing.T) {
	errReset := errors.New("stream reset")
	b := AppendRangeHeader(nil, RangeHeader{ID: 7, Offset: 1 << 20, Length: 300})
	for i := range len(b) {
		r := quicvarint.NewReader(io.MultiReader(bytes.NewReader(b[:i]), iotest.ErrReader(errReset)))
		if h, err := ReadRangeHeader(r); !errors.Is(err, errReset) {
			t.Fatalf("error after %d bytes: got %+v, %v; want the reader's error", i, h, err)
		}
	}
}

// readErrorCase is an input that a reader must reject.
type readErrorCase struct {
	name  string
	input string // hex, spaces ignored
	want  error
}

// testReadErrors checks that read, given each case's input one byte at a
// time, fails with the case's error (errors.Is) and returns the zero
// value with it.
func testReadErrors[T comparable](t *testing.T, read func(quicvarint.Reader) (T, error), tests []readErrorCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := read(quicvarint.NewReader(iotest.OneByteReader(bytes.NewReader(unhex(t, tt.input)))))
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %#v, %v; want %v", got, err, tt.want)
			}
			var zero T
			if got != zero {
				t.Errorf("got %#v with the error, want the zero value", got)
			}
		})
	}
}

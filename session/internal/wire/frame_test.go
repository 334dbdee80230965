package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/quic-go/quic-go/quicvarint"
)

func TestReadFrameSequence(t *testing.T) {
	var data []byte
	var want []Message
	for i, tc := range messageCases() {
		data = AppendFrame(data, tc.msg)
		want = append(want, tc.msg)
		if ft := FrameType(0x21 + i); i%4 == 0 && !ft.known() {
			u := &Unknown{FrameType: ft, Length: uint64(i)}
			data = AppendFrame(data, u)
			want = append(want, u)
		}
	}
	readers := []struct {
		name string
		r    quicvarint.Reader
	}{
		{"bytes.Reader", bytes.NewReader(data)},
		{"one byte per read", quicvarint.NewReader(iotest.OneByteReader(bytes.NewReader(data)))},
		{"EOF with last data", quicvarint.NewReader(iotest.DataErrReader(bytes.NewReader(data)))},
	}
	for _, rd := range readers {
		t.Run(rd.name, func(t *testing.T) {
			for i, w := range want {
				got, err := ReadFrame(rd.r)
				if err != nil {
					t.Fatalf("frame %d (%v): %v", i, w.Type(), err)
				}
				if !reflect.DeepEqual(got, w) {
					t.Fatalf("frame %d:\ngot  %#v\nwant %#v", i, got, w)
				}
			}
			if m, err := ReadFrame(rd.r); err != io.EOF {
				t.Fatalf("after the last frame got %#v, %v; want io.EOF", m, err)
			}
		})
	}
}

func TestReadFrameSkipsUnknown(t *testing.T) {
	hello := &Hello{Magic: magic, Version: 1}
	tests := []struct {
		name  string
		frame string
		want  *Unknown
	}{
		{"type after last", "1a 05 0102030405", &Unknown{FrameType: 0x1a, Length: 5}},
		{"v1 stripe accept", "11 04 08 01 00 01", &Unknown{FrameType: 0x11, Length: 4}},
		{"v1 stripe get", "12 0f 09 01 61 00 0000000000000000 04 00 00", &Unknown{FrameType: 0x12, Length: 15}},
		{"type 0", "00 00", &Unknown{FrameType: 0, Length: 0}},
		{"2-byte type", "7fff 02 ffff", &Unknown{FrameType: 0x3fff, Length: 2}},
		{"8-byte type", "ffffffffffffffff 01 00", &Unknown{FrameType: quicvarint.Max, Length: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bytes.NewReader(AppendFrame(unhex(t, tt.frame), hello))
			got, err := ReadFrame(r)
			if err != nil {
				t.Fatalf("unknown frame: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
			got, err = ReadFrame(r)
			if err != nil {
				t.Fatalf("frame after the unknown one: %v", err)
			}
			if !reflect.DeepEqual(got, hello) {
				t.Errorf("frame after the unknown one: got %#v, want %#v", got, hello)
			}
		})
	}
}

func TestReadFrameMaxSizeUnknown(t *testing.T) {
	frame := AppendFrame(nil, &Unknown{FrameType: 0x30, Length: MaxFrameSize})
	got, err := ReadFrame(bytes.NewReader(frame))
	if err != nil {
		t.Fatalf("frame of MaxFrameSize: %v", err)
	}
	if want := (&Unknown{FrameType: 0x30, Length: MaxFrameSize}); !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
}

var errPayloadRead = errors.New("payload read")

// headerReader returns a reader that serves the frame header (t, n) and then
// fails every read with errPayloadRead.
func headerReader(t FrameType, n uint64) quicvarint.Reader {
	hdr := quicvarint.Append(quicvarint.Append(nil, uint64(t)), n)
	return quicvarint.NewReader(io.MultiReader(bytes.NewReader(hdr), iotest.ErrReader(errPayloadRead)))
}

func TestReadFrameTooLarge(t *testing.T) {
	tests := []struct {
		name string
		typ  FrameType
		n    uint64
	}{
		{"put one byte over", FrameTypePut, MaxFrameSize + 1},
		{"list result 1 GiB", FrameTypeListResult, 1 << 30},
		{"hello max varint", FrameTypeHello, quicvarint.Max},
		{"unknown one byte over", 0x30, MaxFrameSize + 1},
		{"unknown max varint", 0x30, quicvarint.Max},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The payload is never read: an implementation that allocated or
			// read before checking would fail with errPayloadRead, or
			// run out of memory.
			m, err := ReadFrame(headerReader(tt.typ, tt.n))
			if !errors.Is(err, ErrFrameTooLarge) {
				t.Fatalf("got %#v, %v; want ErrFrameTooLarge", m, err)
			}
			if errors.Is(err, errPayloadRead) {
				t.Fatalf("payload was read before the length was checked: %v", err)
			}
		})
	}
}

// TestReadFrameErrors feeds ReadFrame inputs that end early and frames
// whose fields are bad.
func TestReadFrameErrors(t *testing.T) {
	testReadErrors(t, ReadFrame, []readErrorCase{
		// The input ends early.
		{"empty", "", io.EOF},
		{"inside type", "40", io.ErrUnexpectedEOF},
		{"no length", "07", io.ErrUnexpectedEOF},
		{"inside length", "07 40", io.ErrUnexpectedEOF},
		{"no payload", "07 0a", io.ErrUnexpectedEOF},
		{"inside payload", "07 0a 0102", io.ErrUnexpectedEOF},
		{"inside unknown payload", "30 05 0102", io.ErrUnexpectedEOF},
		{"complete frame, short payload", "07 01 07", ErrTruncated},
		{"complete frame, long payload", "0f 02 07 00", ErrTrailingBytes},
		// A field is bad.
		{"bad magic", "01 06 51584653 01 00", ErrBadMagic},
		{"bad bool", "04 03 01 02 00", ErrBadBool},
		{"bad hash length", "13 03 01 01 aa", ErrBadHash},
		{"mode overflow", "0e 0b 01 01 61 c000000100000000", ErrModeOverflow},
		{"bad kind", "06 0e 01 01 61 07 00 00 0000000000000000", ErrBadKind},
		{"path too long", "03 03 01 5001", ErrStringTooLong},
	})
}

func TestReadFrameReadError(t *testing.T) {
	errReset := errors.New("stream reset")
	frame := AppendFrame(nil, &Put{ID: 1, Path: "some/file"})
	for i := range len(frame) {
		r := quicvarint.NewReader(io.MultiReader(bytes.NewReader(frame[:i]), iotest.ErrReader(errReset)))
		if m, err := ReadFrame(r); !errors.Is(err, errReset) {
			t.Fatalf("error after %d bytes: got %#v, %v; want the reader's error", i, m, err)
		}
	}
}

func TestReadFrameBufferReuse(t *testing.T) {
	first := &Welcome{Version: 1, Token: bytes.Repeat([]byte{0xaa}, MaxTokenLen), Software: "first"}
	second := &Welcome{Version: 1, Token: bytes.Repeat([]byte{0xbb}, MaxTokenLen), Software: "other"}
	r := bytes.NewReader(AppendFrame(AppendFrame(nil, first), second))
	got1, err := ReadFrame(r)
	if err != nil {
		t.Fatal(err)
	}
	got2, err := ReadFrame(r)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got1, first) {
		t.Errorf("first frame changed by reading the second:\ngot  %#v\nwant %#v", got1, first)
	}
	if !reflect.DeepEqual(got2, second) {
		t.Errorf("second frame:\ngot  %#v\nwant %#v", got2, second)
	}
}

func TestAppendFrameUnknown(t *testing.T) {
	got := AppendFrame(nil, &Unknown{FrameType: 0x30, Length: 3})
	if want := unhex(t, "30 03 000000"); !bytes.Equal(got, want) {
		t.Errorf("got %x, want %x", got, want)
	}
}

// foreign is a Message that is not one of this package's.
type foreign struct{}

func (foreign) Type() FrameType { return 0x21 }

// TestAppendFrameForeignPanics checks that a Message type the codec has
// no layout for is a programming error, not a frame of made-up bytes.
func TestAppendFrameForeignPanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "wire.foreign is not a message") {
			t.Errorf("AppendFrame(foreign) panicked with %v, want a panic naming the type", r)
		}
	}()
	b := AppendFrame(nil, foreign{})
	t.Errorf("AppendFrame(foreign) = %x, want a panic", b)
}

func TestFrameTypeString(t *testing.T) {
	tests := []struct {
		t    FrameType
		want string
	}{
		{FrameTypeHello, "hello"},
		{FrameTypeListResult, "list_result"},
		{FrameTypeFileInfo, "file_info"},
		{FrameTypeOK, "ok"},
		{0, "frame_0x0"},
		{0x10, "join"},
		{0x11, "frame_0x11"},
		{0x12, "frame_0x12"},
		{FrameTypeSeal, "seal"},
		{FrameTypeAck, "ack"},
		{FrameTypeDrop, "drop"},
		{FrameTypeRemove, "remove"},
		{FrameTypeRename, "rename"},
		{FrameTypeDf, "df"},
		{FrameTypeDfResult, "df_result"},
		{FrameTypeChecksum, "checksum"},
		{FrameTypeChecksumResult, "checksum_result"},
		{0x1a, "frame_0x1a"},
		{1 << 40, "frame_0x10000000000"},
	}
	for _, tt := range tests {
		if got := tt.t.String(); got != tt.want {
			t.Errorf("FrameType(%#x).String() = %q, want %q", uint64(tt.t), got, tt.want)
		}
	}
	for _, ft := range []FrameType{
		FrameTypeHello, FrameTypeWelcome, FrameTypeList, FrameTypeListResult, FrameTypeStat,
		FrameTypeStatResult, FrameTypePut, FrameTypeAccept, FrameTypeGet, FrameTypeFileInfo,
		FrameTypeReject, FrameTypeDone, FrameTypeCancel, FrameTypeMkdir, FrameTypeOK,
		FrameTypeJoin, FrameTypeSeal, FrameTypeAck, FrameTypeDrop, FrameTypeDirMeta,
		FrameTypeSymlink, FrameTypeReadlink, FrameTypeLinkTarget,
		FrameTypeRemove, FrameTypeRename, FrameTypeDf, FrameTypeDfResult,
		FrameTypeChecksum, FrameTypeChecksumResult,
	} {
		if !ft.known() {
			t.Errorf("frame type %v is not known", ft)
		}
		if m, err := ParseMessage(ft, nil); err == nil {
			t.Errorf("ParseMessage(%v, nil) = %#v, want an error", ft, m)
		}
	}
}

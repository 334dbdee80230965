package wire

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/quic-go/quic-go/quicvarint"
)

// packedEntries covers every field a packed entry may leave out or
// carry: shared prefixes (none, part, all of the previous name), zero
// and huge sizes, repeated and changed modes and mtimes (the wide form
// among them), a linked entry, the longest name.
func packedEntries() []Entry {
	mtime := utc(1700000000, 123456789)
	return []Entry{
		{Name: "Kconfig", Kind: KindFile, Size: 4000, Mode: 0o644, MTime: mtime},
		{Name: "Kconfig.debug", Kind: KindFile, Size: 4001, Mode: 0o644, MTime: mtime},
		{Name: "Kconfig", Kind: KindFile, Mode: 0o644, MTime: mtime},
		{Name: "Makefile", Kind: KindDir, Mode: 0o755, MTime: utc(0, 0)},
		{Name: "epoch", Kind: KindSymlink, MTime: utc(0, 0)},
		{Name: "far", Kind: KindOther, Size: quicvarint.Max, Mode: 0o600 | ModeLinked, MTime: utc(1<<40, 999999999)},
		{Name: strings.Repeat("n", MaxPathLen), Kind: KindFile, Size: 1, Mode: 0o600, MTime: mtime},
	}
}

// TestListPackedSmaller: a listing of sorted names with one mode and one
// mtime, as a source tree's are, packs to well under the plain form.
func TestListPackedSmaller(t *testing.T) {
	mtime := utc(1700000000, 0)
	var es []Entry
	for _, n := range []string{"Kconfig", "Makefile", "core.c", "core.h", "core_test.c", "debug.c", "debug.h"} {
		es = append(es, Entry{Name: n, Kind: KindFile, Size: 12345, Mode: 0o644, MTime: mtime})
	}
	plain, packed := payloadLen(&ListResult{ID: 1, Entries: es}), payloadLen(&ListPackedResult{ID: 1, Entries: es})
	if packed*10 > plain*6 {
		t.Errorf("packed %d bytes, plain %d: want at most 60%%", packed, plain)
	}
	for i := range es {
		e := es[i]
		if got := payloadLen(&ListPackedResult{Entries: []Entry{e}}) - 3; got > e.Len()+2 {
			t.Errorf("%s: packed alone %d bytes, plain %d: the sender's budget (Len+2) is too small", e.Name, got, e.Len())
		}
	}
}

// TestListPackedBad: a packed entry with an unknown kind or flag, a
// prefix longer than the previous name, a name beyond MaxPathLen or a
// count the payload cannot hold is refused.
func TestListPackedBad(t *testing.T) {
	head := []byte{0x0e, 0, 1} // ID 14, not last, one entry
	cases := []struct {
		name    string
		payload []byte
		want    error
	}{
		{"kind 0", append(head, 0x00|packedSameMode|packedSameMTime|packedZeroSize, 0, 1, 'a'), ErrBadPacked},
		{"kind 5", append(head, 0x05|packedSameMode|packedSameMTime|packedZeroSize, 0, 1, 'a'), ErrBadPacked},
		{"unknown flag", append(head, 0x41|packedSameMode|packedSameMTime|packedZeroSize, 0, 1, 'a'), ErrBadPacked},
		{"shared beyond the previous name", append(head, 0x01|packedSameMode|packedSameMTime|packedZeroSize, 1, 1, 'a'), ErrBadPacked},
		{"name too long", append(head, 0x01|packedSameMode|packedSameMTime|packedZeroSize, 0, 0x50, 0x01), ErrStringTooLong},
		{"truncated mtime", append(head, 0x01|packedSameMode|packedZeroSize, 0, 1, 'a', 0, 0), ErrTruncated},
		{"count beyond the payload", []byte{0x0e, 0, 9, 0x01 | packedSameMode | packedSameMTime | packedZeroSize, 0, 0}, ErrTruncated},
	}
	for _, tc := range cases {
		m, err := ParseMessage(FrameTypeListPackedResult, tc.payload)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: ParseMessage = %#v, %v; want %v", tc.name, m, err, tc.want)
		}
	}
	// The longest name is refused when a shared prefix makes it longer.
	long := &ListPackedResult{Entries: []Entry{{Name: strings.Repeat("n", MaxPathLen), Kind: KindFile}}}
	b := appendPayload(nil, long)
	b[2] = 2 // two entries; the second shares all 4096 bytes (varint 0x5000) and adds "x"
	b = append(b, 0x01|packedSameMode|packedSameMTime|packedZeroSize, 0x50, 0x00, 0x01, 'x')
	if m, err := ParseMessage(FrameTypeListPackedResult, b); err == nil {
		t.Errorf("a name of MaxPathLen+1 bytes: ParseMessage = %v, want an error", reflect.TypeOf(m))
	}
}

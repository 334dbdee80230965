package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go/quicvarint"
)

// unhex decodes hex, ignoring spaces.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// cat concatenates byte slices.
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

var magic = [4]byte([]byte(Magic))

// seq returns n bytes 0x00, 0x01, ...
func seq(n int) []byte {
	h := make([]byte, n)
	for i := range h {
		h[i] = byte(i)
	}
	return h
}

// seqHash returns a file hash, HashSize bytes 0x00, 0x01, ... 0x07.
func seqHash() []byte { return seq(HashSize) }

// seqToken returns a token of 32 bytes 0x00, 0x01, ... 0x1f.
func seqToken() []byte { return seq(MaxTokenLen) }

func utc(sec, nsec int64) time.Time { return time.Unix(sec, nsec).UTC() }

type messageCase struct {
	name string
	msg  Message
}

// messageCases returns populated values of every message type, plus values
// at the limits. Decoding their encodings must give them back unchanged.
func messageCases() []messageCase {
	mtime := utc(1700000000, 123456789)
	return []messageCase{
		{"hello", &Hello{Magic: magic, Version: Version, Software: "qxfer/0.1.0"}},
		{"hello future version", &Hello{Magic: magic, Version: 1 << 20}},
		{"welcome", &Welcome{Version: 1, MaxTransfers: 16, Token: seqToken(), Software: "qxfer/0.1.0 (linux)"}},
		{"welcome empty", &Welcome{}},
		{"list", &List{ID: 1, Path: "photos/2024"}},
		{"list result", &ListResult{ID: 2, Last: false, Entries: []Entry{
			{Name: "a.jpg", Kind: KindFile, Size: 3 << 20, Mode: 0o644, MTime: mtime},
			{Name: "raw", Kind: KindDir, Mode: 0o755, MTime: utc(0, 0)},
			{Name: "latest", Kind: KindSymlink, Size: 5, Mode: 0o777, MTime: utc(-86400, 1)},
			{Name: "fifo", Kind: KindOther, Mode: 0o600, MTime: mtime},
		}}},
		{"list result empty last", &ListResult{ID: 2, Last: true}},
		{"stat", &Stat{ID: 3, Path: "photos/2024/a.jpg"}},
		{"stat result", &StatResult{ID: 3, Entry: Entry{Name: "photos/2024/a.jpg", Kind: KindFile, Size: 3 << 20, Mode: 0o644, MTime: mtime}}},
		{"put", &Put{ID: 4, Path: "backup/disk.img", Size: 1 << 33, Mode: 0o600, MTime: mtime, Flags: FlagForce | FlagNoResume}},
		{"put limits", &Put{
			ID: quicvarint.Max, Path: strings.Repeat("p", MaxPathLen), Size: quicvarint.Max,
			Mode: math.MaxUint32, MTime: time.Unix(0, math.MinInt64).UTC(), Flags: TransferFlags(quicvarint.Max),
		}},
		{"accept", &Accept{ID: 4, Have: []Range{{0, 1 << 20}, {4 << 20, 3}}}},
		{"accept prefix hash", &Accept{ID: 4, Have: []Range{{0, 1 << 20}, {4 << 20, 3}}, PrefixHash: seqHash()}},
		{"accept empty", &Accept{ID: 4}},
		{"accept up to date", &Accept{ID: 4, Flags: AcceptUpToDate}},
		{"accept limits", &Accept{ID: quicvarint.Max, Flags: AcceptFlags(quicvarint.Max), Have: maxRanges(), PrefixHash: seqHash()}},
		{"get", &Get{ID: 5, Path: "srv/big.img", Size: 1 << 30, MTime: mtime, Flags: FlagNoResume, Have: []Range{{1 << 20, 1 << 20}}}},
		{"get prefix hash", &Get{ID: 5, Path: "srv/big.img", Size: 1 << 30, MTime: mtime, Have: []Range{{0, 1 << 20}, {2 << 20, 1 << 20}}, PrefixHash: seqHash()}},
		{"get empty", &Get{ID: 5, Path: "srv/log.txt", MTime: utc(0, 0)}},
		{"get limits", &Get{
			ID: quicvarint.Max, Path: strings.Repeat("p", MaxPathLen), Size: quicvarint.Max,
			MTime: time.Unix(0, math.MaxInt64).UTC(), Flags: TransferFlags(quicvarint.Max), Have: maxRanges(),
			PrefixHash: seqHash(),
		}},
		{"file info", &FileInfo{ID: 5, Size: 123456789, Mode: 0o640, MTime: mtime}},
		{"file info max mtime", &FileInfo{ID: 5, MTime: time.Unix(0, math.MaxInt64).UTC()}},
		{"file info wide mtime", &FileInfo{ID: 5, Size: 7, Mode: 0o600, MTime: utc(14994997567, 999999999)}},
		{"reject", &Reject{ID: 6, Code: PermissionDenied, Msg: "open srv/secret: permission denied"}},
		{"reject long msg", &Reject{ID: 6, Code: ErrorCode(quicvarint.Max), Msg: strings.Repeat("m", MaxMessageLen)}},
		{"done", &Done{ID: 4, Code: NoError}},
		{"done failed", &Done{ID: 4, Code: HashMismatch, Msg: "sha-256 mismatch"}},
		{"cancel", &Cancel{ID: 5, Code: Interrupted}},
		{"mkdir", &Mkdir{ID: 7, Path: "backup/2024", Mode: 0o755}},
		{"dir meta", &DirMeta{ID: 8, Path: "backup/2024", Mode: 0o700, MTime: mtime}},
		{"dir meta wide mtime", &DirMeta{ID: 8, Path: "d", Mode: 0o755, MTime: utc(14994997567, 1)}},
		{"ok", &OK{ID: 7}},
		{"join", &Join{Magic: magic, Version: Version, Token: seqToken()}},
		{"seal", &Seal{ID: 8, Hash: seqHash()}},
		{"ack", &Ack{ID: 8, Offset: 1 << 30, Length: 8 << 20}},
		{"drop", &Drop{Token: []byte{1, 2, 3, 4, 5, 6, 7, 8}}},
		{"symlink", &Symlink{ID: 9, Path: "tree/latest", Target: "../releases/v2", Flags: FlagForce}},
		{"symlink limits", &Symlink{ID: quicvarint.Max, Path: strings.Repeat("p", MaxPathLen), Target: strings.Repeat("t", MaxPathLen), Flags: TransferFlags(quicvarint.Max)}},
		{"readlink", &Readlink{ID: 10, Path: "tree/latest"}},
		{"link target", &LinkTarget{ID: 10, Target: "../releases/v2"}},
		{"link target empty", &LinkTarget{ID: 10}},
		{"remove", &Remove{ID: 9, Path: "old/a.txt"}},
		{"remove dir", &Remove{ID: 9, Path: "old", Flags: RemoveDir}},
		{"remove limits", &Remove{ID: quicvarint.Max, Path: strings.Repeat("p", MaxPathLen), Flags: RemoveFlags(quicvarint.Max)}},
		{"rename", &Rename{ID: 10, From: "a.txt", To: "b/c.txt"}},
		{"rename limits", &Rename{ID: quicvarint.Max, From: strings.Repeat("f", MaxPathLen), To: strings.Repeat("t", MaxPathLen)}},
		{"df", &Df{ID: 11, Path: "."}},
		{"checksum", &Checksum{ID: 12, Path: "tree/a.txt"}},
		{"checksum limits", &Checksum{ID: quicvarint.Max, Path: strings.Repeat("p", MaxPathLen)}},
		{"checksum result", &ChecksumResult{ID: 12, Size: 1 << 40, Hash: seq(ChecksumSize)}},
		{"df result", &DfResult{ID: 11, Total: 1 << 40, Free: 1 << 39, Avail: 1<<39 - 4096, Files: 1 << 20, FilesFree: 1000}},
		{"df result limits", &DfResult{ID: quicvarint.Max, Total: quicvarint.Max, Free: quicvarint.Max, Avail: quicvarint.Max, Files: quicvarint.Max, FilesFree: quicvarint.Max}},
		{"delta sig", &DeltaSig{ID: 12, Chunks: []SigChunk{{Length: 65536, Sum: seqSum()}, {Length: 100, Sum: ChunkSum{}}}}},
		{"delta sig empty last", &DeltaSig{ID: 12, Last: true}},
		{"delta sig limits", &DeltaSig{ID: quicvarint.Max, Last: true, Chunks: maxSigChunks()}},
		{"delta plan", &DeltaPlan{ID: 12, Ops: []CopyOp{{Offset: 0, Source: 65536, Length: 40000, Sum: seqSum()}}}},
		{"delta plan empty last", &DeltaPlan{ID: 12, Last: true}},
		{"delta plan limits", &DeltaPlan{ID: quicvarint.Max, Last: true, Ops: maxPlanOps()}},
		{"delta have", &DeltaHave{ID: 12, Have: []Range{{0, 1 << 20}}, PrefixHash: seqHash()}},
		{"delta have empty", &DeltaHave{ID: 12}},
		{"delta have limits", &DeltaHave{ID: quicvarint.Max, Have: maxRanges(), PrefixHash: seqHash()}},
		{"features", &Features{ID: 13, Bits: FeatureListPacked}},
		{"features result", &FeaturesResult{ID: 13, Bits: FeatureBits(quicvarint.Max)}},
		{"list packed", &ListPacked{ID: 14, Path: strings.Repeat("p", MaxPathLen)}},
		{"list packed result", &ListPackedResult{ID: 14, Last: true, Entries: packedEntries()}},
		{"part align", &PartAlign{ID: 12, PartSize: 8 << 20, Window: 4}},
		{"part align limits", &PartAlign{ID: quicvarint.Max, PartSize: quicvarint.Max, Window: quicvarint.Max}},
	}
}

// seqSum returns the chunk sum 0x00, 0x01, ... 0x1f.
func seqSum() ChunkSum { return ChunkSum(seq(SumSize)) }

// maxSigChunks returns MaxSigChunks chunks with the longest lengths.
func maxSigChunks() []SigChunk {
	cs := make([]SigChunk, MaxSigChunks)
	for i := range cs {
		cs[i] = SigChunk{Length: quicvarint.Max, Sum: seqSum()}
	}
	return cs
}

// maxPlanOps returns MaxPlanOps operations with the longest fields.
func maxPlanOps() []CopyOp {
	os := make([]CopyOp, MaxPlanOps)
	for i := range os {
		os[i] = CopyOp{Offset: quicvarint.Max, Source: quicvarint.Max, Length: quicvarint.Max, Sum: seqSum()}
	}
	return os
}

// maxRanges returns MaxRanges ranges with the largest offsets and lengths,
// the longest range list a peer accepts. It fits in a frame.
func maxRanges() []Range {
	rs := make([]Range, MaxRanges)
	for i := range rs {
		rs[i] = Range{Offset: quicvarint.Max, Length: quicvarint.Max}
	}
	return rs
}

func TestMessageCasesCoverAllTypes(t *testing.T) {
	seen := map[FrameType]bool{}
	for _, tc := range messageCases() {
		seen[tc.msg.Type()] = true
	}
	for ft, name := range frameTypeNames {
		if name != "" && !seen[FrameType(ft)] {
			t.Errorf("no message case for frame type %v", FrameType(ft))
		}
	}
}

func TestMessageCasesFitInFrame(t *testing.T) {
	for _, tc := range messageCases() {
		if n := payloadLen(tc.msg); n > MaxFrameSize {
			t.Errorf("%s: payload of %d bytes, want at most MaxFrameSize (%d)", tc.name, n, MaxFrameSize)
		}
	}
}

func TestMessageRoundTrip(t *testing.T) {
	for _, tc := range messageCases() {
		t.Run(tc.name, func(t *testing.T) {
			payload := appendPayload(nil, tc.msg)
			if got, want := len(payload), payloadLen(tc.msg); got != want {
				t.Errorf("len(Append) = %d, want Len() = %d", got, want)
			}
			got, err := ParseMessage(tc.msg.Type(), payload)
			if err != nil {
				t.Fatalf("ParseMessage: %v", err)
			}
			if !reflect.DeepEqual(got, tc.msg) {
				t.Errorf("ParseMessage:\ngot  %#v\nwant %#v", got, tc.msg)
			}

			prefix := []byte("prefix")
			frame := AppendFrame(bytes.Clone(prefix), tc.msg)
			if !bytes.HasPrefix(frame, prefix) {
				t.Fatalf("AppendFrame clobbered the buffer: %x", frame)
			}
			r := bytes.NewReader(frame[len(prefix):])
			got, err = ReadFrame(r)
			if err != nil {
				t.Fatalf("ReadFrame: %v", err)
			}
			if !reflect.DeepEqual(got, tc.msg) {
				t.Errorf("ReadFrame:\ngot  %#v\nwant %#v", got, tc.msg)
			}
			if r.Len() != 0 {
				t.Errorf("ReadFrame left %d bytes, want 0", r.Len())
			}
		})
	}
}

func TestMessageExactBytes(t *testing.T) {
	hash := "0001020304050607"                                                 // a file hash (HashSize)
	sum := "000102030405060708090a0b0c0d0e0f 101112131415161718191a1b1c1d1e1f" // a chunk sum (SumSize)
	tests := []struct {
		name  string
		msg   Message
		frame string // type | length | payload
	}{
		{
			name:  "hello",
			msg:   &Hello{Magic: magic, Version: 1, Software: "qxfer/0.1"},
			frame: "01 0f 51584652 01 09 71786665722f302e31",
		},
		{
			name:  "welcome empty",
			msg:   &Welcome{Version: 1, MaxTransfers: 8},
			frame: "02 04 01 08 00 00",
		},
		{
			name: "put",
			msg: &Put{ID: 7, Path: "dir/a.txt", Size: 100000, Mode: 0o644,
				MTime: utc(1700000000, 123), Flags: FlagForce | FlagNoResume},
			// size 100000 is a 4-byte varint, mode 0o644 a 2-byte one,
			// mtime 1700000000000000123 ns = 0x17979cfe362a007b.
			frame: "07 1a 07 09 6469722f612e747874 800186a0 41a4 17979cfe362a007b 03",
		},
		{
			name: "accept",
			msg:  &Accept{ID: 7, Have: []Range{{0, 1 << 20}, {4 << 20, 300}}},
			// 1 MiB and 4 MiB are 4-byte varints, 300 a 2-byte one;
			// the prefix hash is empty.
			frame: "08 0f 07 00 02  00 80100000  80400000 412c  00",
		},
		{
			name:  "accept with prefix hash",
			msg:   &Accept{ID: 7, Have: []Range{{0, 1 << 20}, {4 << 20, 300}}, PrefixHash: seqHash()},
			frame: "08 17 07 00 02  00 80100000  80400000 412c  08" + hash,
		},
		{
			name:  "accept empty",
			msg:   &Accept{ID: 7},
			frame: "08 04 07 00 00 00",
		},
		{
			name:  "accept up to date",
			msg:   &Accept{ID: 8, Flags: AcceptUpToDate},
			frame: "08 04 08 01 00 00",
		},
		{
			name: "get",
			msg: &Get{ID: 9, Path: "big.img", Size: 1 << 30, MTime: utc(1700000000, 123),
				Flags: FlagNoResume, Have: []Range{{1 << 20, 1 << 20}}},
			// size 1 GiB is an 8-byte varint (4 bytes hold up to 2^30-1);
			// the prefix hash is empty (the range does not start at 0).
			frame: "09 24 09 07 6269672e696d67 c000000040000000 17979cfe362a007b 02 01 80100000 80100000 00",
		},
		{
			name: "get with prefix hash",
			msg: &Get{ID: 9, Path: "big.img", Size: 1 << 30, MTime: utc(1700000000, 123),
				Have: []Range{{0, 1 << 20}, {2 << 20, 1 << 20}}, PrefixHash: seqHash()},
			// length 73 is a 2-byte varint.
			frame: "09 31 09 07 6269672e696d67 c000000040000000 17979cfe362a007b 00" +
				"02 00 80100000  80200000 80100000  08" + hash,
		},
		{
			name:  "get empty",
			msg:   &Get{ID: 9, Path: "a", MTime: utc(0, 0)},
			frame: "09 0f 09 01 61 00 0000000000000000 00 00 00",
		},
		{
			name:  "file info",
			msg:   &FileInfo{ID: 5, Size: 100000, Mode: 0o640, MTime: utc(1700000000, 123)},
			frame: "0a 0f 05 800186a0 41a0 17979cfe362a007b",
		},
		{
			name: "list result with 2 entries",
			msg: &ListResult{ID: 3, Last: true, Entries: []Entry{
				{Name: "a", Kind: KindFile, Size: 5, Mode: 0o644, MTime: utc(0, 0)},
				{Name: "sub", Kind: KindDir, Size: 0, Mode: 0o755, MTime: utc(1, 0)},
			}},
			frame: "04 21 03 01 02" +
				"01 61   01 05 41a4 0000000000000000" +
				"03 737562 02 00 41ed 000000003b9aca00",
		},
		{
			name:  "file info before 1970",
			msg:   &FileInfo{ID: 1, MTime: utc(0, -1)},
			frame: "0a 0b 01 00 00 ffffffffffffffff",
		},
		{
			name:  "reject",
			msg:   &Reject{ID: 9, Code: NotFound, Msg: "no such file"},
			frame: "0b 0f 09 04 0c 6e6f20737563682066696c65",
		},
		{
			name:  "done",
			msg:   &Done{ID: 1, Code: NoError},
			frame: "0c 03 01 00 00",
		},
		{
			name:  "cancel",
			msg:   &Cancel{ID: 300, Code: Interrupted},
			frame: "0d 03 412c 17",
		},
		{
			name:  "mkdir",
			msg:   &Mkdir{ID: 2, Path: "d", Mode: 0o700},
			frame: "0e 05 02 01 64 41c0",
		},
		{
			// mtime 1700000000000000123 ns = 0x17979cfe362a007b.
			name:  "dir meta",
			msg:   &DirMeta{ID: 2, Path: "d", Mode: 0o700, MTime: utc(1700000000, 123)},
			frame: "20 0d 02 01 64 41c0 17979cfe362a007b",
		},
		{
			name:  "ok",
			msg:   &OK{ID: 64},
			frame: "0f 02 4040",
		},
		{
			name:  "symlink",
			msg:   &Symlink{ID: 3, Path: "l", Target: "../x", Flags: FlagForce},
			frame: "4060 09 03 01 6c 04 2e2e2f78 01",
		},
		{
			name:  "readlink",
			msg:   &Readlink{ID: 4, Path: "l"},
			frame: "4061 03 04 01 6c",
		},
		{
			name:  "link target",
			msg:   &LinkTarget{ID: 4, Target: "x"},
			frame: "4062 03 04 01 78",
		},
		{
			name:  "checksum",
			msg:   &Checksum{ID: 5, Path: "f"},
			frame: "4090 03 05 01 66",
		},
		{
			name:  "checksum result",
			msg:   &ChecksumResult{ID: 5, Size: 300, Hash: seq(ChecksumSize)},
			frame: "4091 24 05 412c 20 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		},
		{
			name:  "join",
			msg:   &Join{Magic: magic, Version: 2, Token: []byte{1, 2, 3, 4}},
			frame: "10 0a 51584652 02 04 01020304",
		},
		{
			name:  "seal",
			msg:   &Seal{ID: 8, Hash: seqHash()},
			frame: "13 0a 08 08" + hash,
		},
		{
			name:  "ack",
			msg:   &Ack{ID: 8, Offset: 1 << 30, Length: 8 << 20},
			frame: "14 0d 08 c000000040000000 80800000",
		},
		{
			name:  "drop",
			msg:   &Drop{Token: []byte{1, 2, 3, 4, 5, 6, 7, 8}},
			frame: "15 09 08 0102030405060708",
		},
		{
			name:  "remove dir",
			msg:   &Remove{ID: 9, Path: "old", Flags: RemoveDir},
			frame: "16 06 09 03 6f6c64 01",
		},
		{
			name:  "rename",
			msg:   &Rename{ID: 10, From: "a", To: "b/c"},
			frame: "17 07 0a 01 61 03 622f63",
		},
		{
			name:  "df",
			msg:   &Df{ID: 11, Path: "."},
			frame: "18 03 0b 01 2e",
		},
		{
			name: "df result",
			msg:  &DfResult{ID: 11, Total: 1 << 40, Free: 1 << 30, Avail: 100000, Files: 64, FilesFree: 0},
			// 1 TiB and 1 GiB are 8-byte varints, 100000 a 4-byte one,
			// 64 a 2-byte one.
			frame: "19 18 0b c000010000000000 c000000040000000 800186a0 4040 00",
		},
		{
			name: "delta sig",
			msg:  &DeltaSig{ID: 12, Last: true, Chunks: []SigChunk{{Length: 65536, Sum: seqSum()}}},
			// 65536 is a 4-byte varint; the sum has no length prefix.
			frame: "4080 27 0c 01 01 80010000" + sum,
		},
		{
			name:  "delta plan",
			msg:   &DeltaPlan{ID: 12, Ops: []CopyOp{{Offset: 0, Source: 65536, Length: 300, Sum: seqSum()}}},
			frame: "4081 2a 0c 00 01 00 80010000 412c" + sum,
		},
		{
			name:  "delta have",
			msg:   &DeltaHave{ID: 12, Have: []Range{{0, 1 << 20}}, PrefixHash: seqHash()},
			frame: "4082 10 0c 01 00 80100000 08" + hash,
		},
		// PartAlign, and the Welcome's optional JoinAddr.
		{
			name:  "part align",
			msg:   &PartAlign{ID: 5, PartSize: 8 << 20, Window: 4},
			frame: "4070 06 05 80800000 04",
		},
		{
			name:  "welcome with join address",
			msg:   &Welcome{Version: 1, MaxTransfers: 8, JoinAddr: "h:1"},
			frame: "02 08 01 08 00 00 03 683a31",
		},
		{
			name:  "welcome without join address",
			msg:   &Welcome{Version: 1, MaxTransfers: 8},
			frame: "02 04 01 08 00 00",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := unhex(t, tt.frame)
			if got := AppendFrame(nil, tt.msg); !bytes.Equal(got, want) {
				t.Errorf("AppendFrame:\ngot  %x\nwant %x", got, want)
			}
			got, err := ReadFrame(bytes.NewReader(want))
			if err != nil {
				t.Fatalf("ReadFrame: %v", err)
			}
			if !reflect.DeepEqual(got, tt.msg) {
				t.Errorf("ReadFrame:\ngot  %#v\nwant %#v", got, tt.msg)
			}
		})
	}
}

func TestMessageEveryTruncationFails(t *testing.T) {
	for _, tc := range messageCases() {
		t.Run(tc.name, func(t *testing.T) {
			payload := appendPayload(nil, tc.msg)
			for i := range len(payload) {
				m, err := ParseMessage(tc.msg.Type(), payload[:i])
				if !errors.Is(err, ErrTruncated) {
					t.Fatalf("ParseMessage(payload[:%d]) = %#v, %v; want ErrTruncated", i, m, err)
				}
			}
		})
	}
}

func TestMessageTrailingBytesFail(t *testing.T) {
	for _, tc := range messageCases() {
		t.Run(tc.name, func(t *testing.T) {
			payload := append(appendPayload(nil, tc.msg), 0)
			m, err := ParseMessage(tc.msg.Type(), payload)
			if !errors.Is(err, ErrTrailingBytes) {
				t.Fatalf("ParseMessage = %#v, %v; want ErrTrailingBytes", m, err)
			}
		})
	}
}

func TestParseMessageErrors(t *testing.T) {
	rep := func(n int) []byte { return bytes.Repeat([]byte{'x'}, n) }
	h := func(s string) []byte { return unhex(t, s) }
	varint := func(v uint64) []byte { return quicvarint.Append(nil, v) }
	mtime := h("0000000000000000")
	tests := []struct {
		name    string
		typ     FrameType
		payload []byte
		want    error
	}{
		{"hello bad magic", FrameTypeHello, cat([]byte("QXFS"), h("01 00")), ErrBadMagic},
		{"hello http", FrameTypeHello, []byte("GET / HTTP/1.1\r\n"), ErrBadMagic},
		{"hello software too long", FrameTypeHello, cat([]byte(Magic), h("01"), varint(MaxSoftwareLen+1), rep(MaxSoftwareLen+1)), ErrStringTooLong},
		{"welcome token too long", FrameTypeWelcome, cat(h("01 01"), varint(MaxTokenLen+1), rep(MaxTokenLen+1), h("00")), ErrStringTooLong},
		{"welcome software too long", FrameTypeWelcome, cat(h("01 01 00"), varint(MaxSoftwareLen+1), rep(MaxSoftwareLen+1)), ErrStringTooLong},
		{"list path too long", FrameTypeList, cat(h("01"), varint(MaxPathLen+1), rep(MaxPathLen+1)), ErrStringTooLong},
		{"list path length huge", FrameTypeList, cat(h("01"), varint(quicvarint.Max)), ErrStringTooLong},
		{"list result bad bool", FrameTypeListResult, h("01 02 00"), ErrBadBool},
		{"list result bool 0xff", FrameTypeListResult, h("01 ff 00"), ErrBadBool},
		{"list result count overruns", FrameTypeListResult, cat(h("01 01 02 01 61 01 05 41a4"), mtime), ErrTruncated},
		{"list result count huge", FrameTypeListResult, cat(h("01 01"), varint(quicvarint.Max)), ErrTruncated},
		{"list result kind 0", FrameTypeListResult, cat(h("01 01 01 01 61 00 05 41a4"), mtime), ErrBadKind},
		{"list result name too long", FrameTypeListResult, cat(h("01 01 01"), varint(MaxPathLen+1), rep(MaxPathLen+1), h("01 00 00"), mtime), ErrStringTooLong},
		{"stat result kind 5", FrameTypeStatResult, cat(h("01 01 61 05 00 00"), mtime), ErrBadKind},
		{"wide mtime truncated", FrameTypeFileInfo, h("01 00 00 8000000000000000 000000037edd31"), ErrTruncated},
		{"wide mtime nanoseconds 10^9", FrameTypeFileInfo, h("01 00 00 8000000000000000 000000037edd31bf 3b9aca00"), ErrBadMTime},
		{"wide mtime of a nanosecond instant", FrameTypeFileInfo, h("01 00 00 8000000000000000 0000000000000000 00000000"), ErrBadMTime},
		{"stat result mode overflow", FrameTypeStatResult, cat(h("01 01 61 01 00 c000000100000000"), mtime), ErrModeOverflow},
		{"put mode overflow", FrameTypePut, cat(h("01 01 61 00 c000000100000000"), mtime, h("00")), ErrModeOverflow},
		{"accept too many ranges", FrameTypeAccept, appendPayload(nil, &Accept{ID: 1, Have: make([]Range, MaxRanges+1)}), ErrTooManyRanges},
		{"accept count overruns", FrameTypeAccept, h("01 00 02 00 00"), ErrTruncated},
		{"accept count huge", FrameTypeAccept, cat(h("01 00"), varint(quicvarint.Max)), ErrTruncated},
		{"get path too long", FrameTypeGet, cat(h("01"), varint(MaxPathLen+1), rep(MaxPathLen+1), h("00"), mtime, h("00 00")), ErrStringTooLong},
		{"get too many ranges", FrameTypeGet, appendPayload(nil, &Get{ID: 1, Path: "p", Have: make([]Range, MaxRanges+1)}), ErrTooManyRanges},
		{"get count overruns", FrameTypeGet, cat(h("01 01 61 00"), mtime, h("00 01 00")), ErrTruncated},
		{"accept prefix hash 5 bytes", FrameTypeAccept, cat(h("01 00 01 00 05 05"), rep(5)), ErrBadHash},
		{"accept prefix hash 7 bytes", FrameTypeAccept, cat(h("01 00 01 00 07 07"), rep(7)), ErrBadHash},
		{"accept prefix hash 9 bytes", FrameTypeAccept, cat(h("01 00 01 00 09 09"), rep(9)), ErrBadHash},
		{"accept prefix hash 32 bytes, v2's SHA-256", FrameTypeAccept, cat(h("01 00 01 00 20 20"), rep(32)), ErrBadHash},
		{"accept prefix hash length huge", FrameTypeAccept, cat(h("01 00 00"), varint(quicvarint.Max)), ErrBadHash},
		{"accept prefix hash short", FrameTypeAccept, cat(h("01 00 00 08"), rep(7)), ErrTruncated},
		{"get prefix hash 5 bytes", FrameTypeGet, cat(h("01 01 61 05"), mtime, h("00 01 00 05 05"), rep(5)), ErrBadHash},
		{"get prefix hash 9 bytes", FrameTypeGet, cat(h("01 01 61 09"), mtime, h("00 01 00 09 09"), rep(9)), ErrBadHash},
		{"get prefix hash 32 bytes, v2's SHA-256", FrameTypeGet, cat(h("01 01 61 20"), mtime, h("00 01 00 20 20"), rep(32)), ErrBadHash},
		{"get prefix hash length huge", FrameTypeGet, cat(h("01 01 61 00"), mtime, h("00 00"), varint(quicvarint.Max)), ErrBadHash},
		{"get prefix hash short", FrameTypeGet, cat(h("01 01 61 00"), mtime, h("00 00 08"), rep(7)), ErrTruncated},
		{"file info mode overflow", FrameTypeFileInfo, cat(h("01 00 c000000100000000"), mtime), ErrModeOverflow},
		{"seal hash empty", FrameTypeSeal, h("01 00"), ErrBadHash},
		{"seal hash 7 bytes", FrameTypeSeal, cat(h("01 07"), rep(7)), ErrBadHash},
		{"seal hash 9 bytes", FrameTypeSeal, cat(h("01 09"), rep(9)), ErrBadHash},
		{"seal hash 32 bytes, v2's SHA-256", FrameTypeSeal, cat(h("01 20"), rep(32)), ErrBadHash},
		{"checksum result hash 8 bytes", FrameTypeChecksumResult, cat(h("01 01 08"), rep(8)), ErrBadHash},
		{"checksum result hash 31 bytes", FrameTypeChecksumResult, cat(h("01 01 1f"), rep(31)), ErrBadHash},
		{"join bad magic", FrameTypeJoin, cat([]byte("QXFS"), h("02 00")), ErrBadMagic},
		{"join token too long", FrameTypeJoin, cat([]byte(Magic), h("02"), varint(MaxTokenLen+1), rep(MaxTokenLen+1)), ErrStringTooLong},
		{"drop token too long", FrameTypeDrop, cat(varint(MaxTokenLen+1), rep(MaxTokenLen+1)), ErrStringTooLong},
		{"reject msg too long", FrameTypeReject, cat(h("01 01"), varint(MaxMessageLen+1), rep(MaxMessageLen+1)), ErrStringTooLong},
		{"done msg too long", FrameTypeDone, cat(h("01 00"), varint(MaxMessageLen+1), rep(MaxMessageLen+1)), ErrStringTooLong},
		{"mkdir mode overflow", FrameTypeMkdir, h("01 01 61 c000000100000000"), ErrModeOverflow},
		{"dir meta mode overflow", FrameTypeDirMeta, cat(h("01 01 61 c000000100000000"), mtime), ErrModeOverflow},
		{"remove path too long", FrameTypeRemove, cat(h("01"), varint(MaxPathLen+1), rep(MaxPathLen+1), h("00")), ErrStringTooLong},
		{"rename to too long", FrameTypeRename, cat(h("01 01 61"), varint(MaxPathLen+1), rep(MaxPathLen+1)), ErrStringTooLong},
		{"rename from length huge", FrameTypeRename, cat(h("01"), varint(quicvarint.Max)), ErrStringTooLong},
		{"df path too long", FrameTypeDf, cat(h("01"), varint(MaxPathLen+1), rep(MaxPathLen+1)), ErrStringTooLong},
		{"df result short", FrameTypeDfResult, h("01 00 00 00 00"), ErrTruncated},
		{"ok empty", FrameTypeOK, nil, ErrTruncated},
		{"ok trailing", FrameTypeOK, h("01 00"), ErrTrailingBytes},
		{"payload too large", FrameTypeOK, make([]byte, MaxFrameSize+1), ErrFrameTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMessage(tt.typ, tt.payload)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseMessage = %#v, %v; want %v", m, err, tt.want)
			}
			if m != nil {
				t.Errorf("got message %#v with error, want nil", m)
			}
			if !strings.HasPrefix(err.Error(), tt.typ.String()+" frame: ") {
				t.Errorf("error %q does not name the frame type %v", err, tt.typ)
			}
		})
	}
}

// TestPrefixHashEmptyIsNil checks that an empty prefix hash, however it
// is written, is accepted and decodes as nil, and that a non-nil empty
// one encodes as an empty field.
func TestPrefixHashEmptyIsNil(t *testing.T) {
	mtime := unhex(t, "0000000000000000")
	tests := []struct {
		name    string
		typ     FrameType
		payload []byte
		want    Message
	}{
		{"accept", FrameTypeAccept, unhex(t, "01 00 01 00 05 00"),
			&Accept{ID: 1, Have: []Range{{0, 5}}}},
		{"accept 2-byte length", FrameTypeAccept, unhex(t, "01 00 00 4000"),
			&Accept{ID: 1}},
		{"get", FrameTypeGet, cat(unhex(t, "01 01 61 05"), mtime, unhex(t, "00 01 00 05 00")),
			&Get{ID: 1, Path: "a", Size: 5, MTime: utc(0, 0), Have: []Range{{0, 5}}}},
		{"get 8-byte length", FrameTypeGet, cat(unhex(t, "01 01 61 00"), mtime, unhex(t, "00 00 c000000000000000")),
			&Get{ID: 1, Path: "a", MTime: utc(0, 0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMessage(tt.typ, tt.payload)
			if err != nil {
				t.Fatalf("ParseMessage: %v", err)
			}
			if !reflect.DeepEqual(m, tt.want) {
				t.Errorf("ParseMessage:\ngot  %#v\nwant %#v", m, tt.want)
			}
		})
	}

	for _, tt := range []struct{ empty, none Message }{
		{&Accept{ID: 1, PrefixHash: []byte{}}, &Accept{ID: 1}},
		{&Get{ID: 1, Path: "a", PrefixHash: []byte{}}, &Get{ID: 1, Path: "a"}},
	} {
		got, want := AppendFrame(nil, tt.empty), AppendFrame(nil, tt.none)
		if !bytes.Equal(got, want) {
			t.Errorf("%v with an empty non-nil prefix hash:\ngot  %x\nwant %x", tt.empty.Type(), got, want)
		}
		if payloadLen(tt.empty) != payloadLen(tt.none) {
			t.Errorf("%v: Len() = %d with an empty non-nil prefix hash, %d with nil", tt.empty.Type(), payloadLen(tt.empty), payloadLen(tt.none))
		}
	}
}

func TestParseMessageUnknownType(t *testing.T) {
	m, err := ParseMessage(0x40, []byte{1, 2, 3})
	if err != nil {
		t.Fatalf("ParseMessage: %v", err)
	}
	want := &Unknown{FrameType: 0x40, Length: 3}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("got %#v, want %#v", m, want)
	}
}

func TestParseMessageDoesNotRetainPayload(t *testing.T) {
	msgs := []Message{
		&Welcome{Version: 1, Token: seqToken(), Software: "server"},
		&Accept{ID: 1, Have: []Range{{0, 2}, {3, 4}}, PrefixHash: seqHash()},
		&Get{ID: 1, Path: "p", MTime: utc(1, 2), Have: []Range{{0, 2}}, PrefixHash: seqHash()},
		&Seal{ID: 1, Hash: seqHash()},
		&Join{Magic: magic, Version: Version, Token: seqToken()},
		&Drop{Token: seqToken()},
		&ListResult{ID: 1, Entries: []Entry{{Name: "n", Kind: KindFile, MTime: utc(1, 2)}}},
	}
	for _, want := range msgs {
		payload := appendPayload(nil, want)
		got, err := ParseMessage(want.Type(), payload)
		if err != nil {
			t.Fatalf("ParseMessage(%v): %v", want.Type(), err)
		}
		clear(payload)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%v changed with its payload:\ngot  %#v\nwant %#v", want.Type(), got, want)
		}
	}
}

// TestMTimeExact checks that every instant a file system can store
// crosses the wire unchanged: the 8-byte nanosecond form where it fits,
// the wide form (seconds and nanoseconds) beyond 1677 and 2262. An mtime
// in 2445 used to arrive as 2262-04-11.
func TestMTimeExact(t *testing.T) {
	tests := []struct {
		name string
		in   time.Time
		size int // encoded length of the field
	}{
		{"2023", utc(1700000000, 123456789), 8},
		{"epoch", utc(0, 0), 8},
		{"last nanosecond form", time.Unix(0, math.MaxInt64).UTC(), 8},
		{"first nanosecond form", time.Unix(0, math.MinInt64+1).UTC(), 8},
		{"the escape instant itself", time.Unix(0, math.MinInt64).UTC(), 20},
		{"2262, one ns past", time.Unix(0, math.MaxInt64).Add(1).UTC(), 20},
		{"2445", time.Date(2445, 3, 4, 5, 6, 7, 999999999, time.UTC), 20},
		{"year 10000", time.Date(10000, 1, 1, 0, 0, 0, 1, time.UTC), 20},
		{"year 1 (zero time)", time.Time{}, 20},
		{"1601, local zone", time.Date(1601, 1, 1, 0, 0, 0, 5, time.FixedZone("x", 3600)), 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fi := &FileInfo{ID: 1, MTime: tt.in}
			b := appendPayload(nil, fi)
			if got, want := len(b), 1+1+1+tt.size; got != want || payloadLen(fi) != want {
				t.Errorf("encoded %d bytes, Len %d, want %d", got, payloadLen(fi), want)
			}
			m, err := ParseMessage(FrameTypeFileInfo, b)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.(*FileInfo).MTime; !got.Equal(tt.in) {
				t.Errorf("got %v, want %v", got, tt.in)
			}
		})
	}
	// The wide form, byte by byte: 2445-03-04 05:06:07.999999999 UTC is
	// Unix 14994997567 s (0x37dc5813f), 999999999 ns (0x3b9ac9ff).
	got := hex.EncodeToString(appendMTime(nil, time.Date(2445, 3, 4, 5, 6, 7, 999999999, time.UTC)))
	if want := "8000000000000000" + "000000037dc5813f" + "3b9ac9ff"; got != want {
		t.Errorf("wide form of 2445: got %s, want %s", got, want)
	}
}

func TestEntryKindString(t *testing.T) {
	tests := []struct {
		k    EntryKind
		want string
	}{{KindFile, "file"}, {KindDir, "dir"}, {KindSymlink, "symlink"}, {KindOther, "other"}, {0, "kind_0"}, {9, "kind_9"}}
	for _, tt := range tests {
		if got := tt.k.String(); got != tt.want {
			t.Errorf("EntryKind(%d).String() = %q, want %q", uint8(tt.k), got, tt.want)
		}
	}
}

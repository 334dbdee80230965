package xfer

import (
	"bytes"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/session/internal/wire"
)

func TestPartAndRecordNames(t *testing.T) {
	tests := []struct {
		name, path, part, record string
	}{
		{"top level", "out.bin", ".out.bin.qxfer.part", ".out.bin.qxfer.resume"},
		{"nested", "a/b/c.txt", "a/b/.c.txt.qxfer.part", "a/b/.c.txt.qxfer.resume"},
		{"dot file", "d/.hidden", "d/..hidden.qxfer.part", "d/..hidden.qxfer.resume"},
		{"237 bytes: the longest plain", "d/" + strings.Repeat("a", 237), "d/." + strings.Repeat("a", 237) + ".qxfer.part", "d/." + strings.Repeat("a", 237) + ".qxfer.resume"},
		{"238 bytes: hashed", "d/" + strings.Repeat("a", 238), "d/.qxfer-" + hashHex(strings.Repeat("a", 238)) + ".qxfer.part", "d/.qxfer-" + hashHex(strings.Repeat("a", 238)) + ".qxfer.resume"},
		{"81 CJK characters (243 bytes)", strings.Repeat("語", 81), ".qxfer-" + hashHex(strings.Repeat("語", 81)) + ".qxfer.part", ".qxfer-" + hashHex(strings.Repeat("語", 81)) + ".qxfer.resume"},
		{"looks hashed", "qxfer-0123456789abcdef0123456789abcdef", ".qxfer-" + hashHex("qxfer-0123456789abcdef0123456789abcdef") + ".qxfer.part", ".qxfer-" + hashHex("qxfer-0123456789abcdef0123456789abcdef") + ".qxfer.resume"},
		{"looks hashed, upper case", "qxfer-0123456789ABCDEF0123456789ABCDEF", ".qxfer-0123456789ABCDEF0123456789ABCDEF.qxfer.part", ".qxfer-0123456789ABCDEF0123456789ABCDEF.qxfer.resume"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := PartName(tc.path); got != tc.part {
				t.Errorf("PartName(%q): got %q, want %q", tc.path, got, tc.part)
			}
			if got := RecordName(tc.path); got != tc.record {
				t.Errorf("RecordName(%q): got %q, want %q", tc.path, got, tc.record)
			}
			for _, side := range []string{PartName(tc.path), RecordName(tc.path) + ".tmp"} {
				if n := len(path.Base(side)); n > nameMax {
					t.Errorf("side file %q: %d bytes, want at most %d", side, n, nameMax)
				}
			}
		})
	}
}

// hashHex is the hex of the first 128 bits of the SHA-256 of name.
func hashHex(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:16])
}

// TestLongNameRecord checks that the record of a hashed side file names
// its target, and that a record naming another target is ignored (two
// names whose hashes collided would not share a partial file).
func TestLongNameRecord(t *testing.T) {
	_, root := testutil.TempRoot(t)
	long := strings.Repeat("é", 127) // 254 bytes
	meta := FileMeta{Size: 10, MTime: time.Unix(1700000000, 0)}
	if err := root.WriteFile(PartName(long), make([]byte, 10), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := SaveRecord(root, long, newRecord(meta, []wire.Range{{Offset: 0, Length: 4}}, 0, nil)); err != nil {
		t.Fatal(err)
	}
	rec, _ := LoadRecord(root, long)
	if !rec.Matches(meta) || rec.Name != long {
		t.Fatalf("got record %+v, want one of %q matching its source", rec, long)
	}
	rec.Name = "other"
	b, _ := json.Marshal(rec)
	if err := root.WriteFile(RecordName(long), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if rec, absent := LoadRecord(root, long); rec != nil || absent {
		t.Errorf("a record naming another target: got %+v (absent %v), want it ignored", rec, absent)
	}
}

// TestSideFile checks that SideFile recognises every side file of a
// destination, short or hashed, under one key per destination.
func TestSideFile(t *testing.T) {
	dests := []string{"out.bin", "a/b/c.txt", "d/.hidden", "x.qxfer.part", "名前", "a b", strings.Repeat("é", 127), "d/" + strings.Repeat("x", 250)}
	keys := map[string]string{}
	for _, d := range dests {
		for _, c := range []struct {
			name string
			kind SideKind
		}{{PartName(d), SidePart}, {RecordName(d), SideRecord}, {RecordName(d) + ".tmp", SideRecordTmp}} {
			key, kind := SideFile(path.Base(c.name))
			if kind != c.kind {
				t.Errorf("SideFile(%q): kind %d, want %d", path.Base(c.name), kind, c.kind)
			}
			if prev, ok := keys[d]; ok && prev != key {
				t.Errorf("SideFile(%q): key %q, want %q (the key of the other side files of %q)", path.Base(c.name), key, prev, d)
			}
			keys[d] = key
		}
	}
	seen := map[string]string{}
	for d, k := range keys {
		if other, ok := seen[k]; ok {
			t.Errorf("destinations %q and %q share the side-file key %q", d, other, k)
		}
		seen[k] = d
	}
	for _, name := range []string{"out.bin", ".out.bin", "out.bin.qxfer.part", ".qxfer.part", ".qxfer.resume", ".x.qxfer.partial", "a/.x.qxfer.part", ""} {
		if key, kind := SideFile(name); kind != NotSide {
			t.Errorf("SideFile(%q) = %q, %d; want not a side file", name, key, kind)
		}
	}
}

// v1Record is a version 1 record of the first offset bytes of a
// size-byte file, with the marshalled SHA-256 state of zeros (what a .part
// of that many zero bytes holds).
func v1Record(t *testing.T, size, offset uint64, mtime int64) string {
	t.Helper()
	h := sha256.New()
	h.Write(make([]byte, offset))
	state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]any{"v": 1, "size": size, "mtime": mtime, "offset": offset, "state": state})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// zeroHash is the file hash of n zero bytes.
func zeroHash(n int) []byte {
	return FileHash(make([]byte, n))
}

// zeroSHA256 is the SHA-256 of n zero bytes: the prefix hash of a
// version 2 record.
func zeroSHA256(n int) []byte {
	s := sha256.Sum256(make([]byte, n))
	return s[:]
}

// TestLoadRecord: LoadRecord accepts a version 1 record as its prefix, a
// version 2 one as its ranges, both without their SHA-256 prefix hash,
// and a version 3 one as its ranges with its prefix hash, and ignores
// (nil) any record it cannot trust; absent is true only when there is no
// record file at all.
func TestLoadRecord(t *testing.T) {
	const (
		size  = 1 << 20
		mtime = int64(1700000000123456789)
	)
	// many is a record with more ranges than wire.MaxRanges.
	many := make([]wire.Range, wire.MaxRanges+1)
	for i := range many {
		many[i] = wire.Range{Offset: uint64(i) * 2, Length: 1}
	}
	manyJSON, err := json.Marshal(Record{Version: RecordVersion, Size: size, MTime: mtime, Ranges: many})
	if err != nil {
		t.Fatal(err)
	}
	v := func(version int) func(ranges string, extra string) string {
		return func(ranges string, extra string) string {
			return fmt.Sprintf(`{"v":%d,"size":1048576,"mtime":1700000000123456789,"ranges":[`, version) + ranges + `]` + extra + `}`
		}
	}
	v2, v3 := v(2), v(3)
	hash100, err := json.Marshal(zeroHash(100))
	if err != nil {
		t.Fatal(err)
	}
	sha100, err := json.Marshal(zeroSHA256(100))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		record string // record file content; "-" for none
		part   int    // .part length; -1 for none, -2 for a directory
		want   *Record
		absent bool
	}{
		{
			name:   "version 1 is its prefix",
			record: v1Record(t, size, 4096, mtime),
			part:   4096,
			want:   &Record{Version: RecordVersion, Size: size, MTime: mtime, Ranges: []wire.Range{{Offset: 0, Length: 4096}}},
		},
		{
			name:   "version 1 at offset 0 holds nothing",
			record: v1Record(t, size, 0, mtime),
			part:   0,
			want:   &Record{Version: RecordVersion, Size: size, MTime: mtime},
		},
		{
			name:   "version 1 complete",
			record: v1Record(t, size, size, mtime),
			part:   size,
			want:   &Record{Version: RecordVersion, Size: size, MTime: mtime, Ranges: []wire.Range{{Offset: 0, Length: size}}},
		},
		{
			name:   "version 1 past the size",
			record: v1Record(t, size, size+1, mtime),
			part:   size + 1,
		},
		{
			name:   "version 1 with a short .part",
			record: v1Record(t, size, 4096, mtime),
			part:   4095,
		},
		{
			name:   "version 1 with a bad hash state",
			record: `{"v":1,"size":1048576,"mtime":1700000000123456789,"offset":4096,"state":"c2hhAAAA"}`,
			part:   4096,
		},
		{
			name:   "version 1 without a hash state",
			record: `{"v":1,"size":1048576,"mtime":1700000000123456789,"offset":4096}`,
			part:   4096,
		},
		{
			name:   "version 2 ranges are normalised",
			record: v2(`{"Offset":300,"Length":100},{"Offset":0,"Length":100},{"Offset":100,"Length":50}`, ""),
			part:   size,
			want:   &Record{Version: RecordVersion, Size: size, MTime: mtime, Ranges: []wire.Range{{Offset: 0, Length: 150}, {Offset: 300, Length: 100}}},
		},
		{
			name:   "version 2 without its SHA-256 prefix hash",
			record: v2(`{"Offset":0,"Length":150}`, `,"hashed":100,"sha256":`+string(sha100)),
			part:   size,
			want:   &Record{Version: RecordVersion, Size: size, MTime: mtime, Ranges: []wire.Range{{Offset: 0, Length: 150}}},
		},
		{
			name:   "version 2 hashed past the prefix",
			record: v2(`{"Offset":0,"Length":50}`, `,"hashed":100,"sha256":`+string(sha100)),
			part:   size,
		},
		{
			name:   "version 2 with a file hash for its SHA-256",
			record: v2(`{"Offset":0,"Length":150}`, `,"hashed":100,"sha256":`+string(hash100)),
			part:   size,
		},
		{
			name:   "version 3 with its prefix hash",
			record: v3(`{"Offset":0,"Length":150}`, `,"hashed":100,"xxh64":`+string(hash100)),
			part:   size,
			want:   &Record{Version: RecordVersion, Size: size, MTime: mtime, Ranges: []wire.Range{{Offset: 0, Length: 150}}, Hashed: 100, Sum: zeroHash(100)},
		},
		{
			name:   "version 3 with a SHA-256 for its hash",
			record: v3(`{"Offset":0,"Length":150}`, `,"hashed":100,"xxh64":`+string(sha100)),
			part:   size,
		},
		{
			name:   "version 3 with only a version 2 hash",
			record: v3(`{"Offset":0,"Length":150}`, `,"hashed":100,"sha256":`+string(sha100)),
			part:   size,
		},
		{
			name:   "version 2 .part as long as its last range",
			record: v2(`{"Offset":300,"Length":100}`, ""),
			part:   400,
			want:   &Record{Version: RecordVersion, Size: size, MTime: mtime, Ranges: []wire.Range{{Offset: 300, Length: 100}}},
		},
		{
			name:   "hashed past the prefix",
			record: v3(`{"Offset":0,"Length":50}`, `,"hashed":100,"xxh64":`+string(hash100)),
			part:   size,
		},
		{
			name:   "hashed without a prefix",
			record: v3(`{"Offset":10,"Length":200}`, `,"hashed":100,"xxh64":`+string(hash100)),
			part:   size,
		},
		{
			name:   "hashed with a short hash",
			record: v3(`{"Offset":0,"Length":150}`, `,"hashed":100,"xxh64":"AAAA"`),
			part:   size,
		},
		{
			name:   "hashed without a hash",
			record: v3(`{"Offset":0,"Length":150}`, `,"hashed":100`),
			part:   size,
		},
		{
			name:   "range past the size",
			record: v3(`{"Offset":1048000,"Length":1000}`, ""),
			part:   size + 1000,
		},
		{
			name:   "range wrapping around",
			record: v3(`{"Offset":100,"Length":18446744073709551615}`, ""),
			part:   size,
		},
		{
			name:   "too many ranges",
			record: string(manyJSON),
			part:   size,
		},
		{
			name:   "unknown version",
			record: `{"v":4,"size":1048576,"mtime":1,"ranges":[]}`,
			part:   size,
		},
		{
			name:   "no version",
			record: `{"size":1048576,"mtime":1}`,
			part:   size,
		},
		{
			name:   "garbage",
			record: `{"v":2,"size":`,
			part:   size,
		},
		{
			name:   "not JSON at all",
			record: "\x00\x01binary",
			part:   size,
		},
		{
			name:   "too large",
			record: v3("", "") + strings.Repeat(" ", 64<<10),
			part:   size,
		},
		{
			name:   ".part missing",
			record: v3(`{"Offset":0,"Length":10}`, ""),
			part:   -1,
		},
		{
			name:   ".part is a directory",
			record: v3(`{"Offset":0,"Length":10}`, ""),
			part:   -2,
		},
		{
			name:   ".part shorter than the last range end",
			record: v3(`{"Offset":0,"Length":10},{"Offset":500,"Length":100}`, ""),
			part:   599,
		},
		{
			name:   "no record file",
			record: "-",
			part:   size,
			absent: true,
		},
		{
			name:   "no record file and no .part",
			record: "-",
			part:   -1,
			absent: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, root := testutil.TempRoot(t)
			const dest = "sub/f.bin"
			if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			if tc.record != "-" {
				if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(RecordName(dest))), []byte(tc.record), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			partPath := filepath.Join(dir, filepath.FromSlash(PartName(dest)))
			switch {
			case tc.part == -2:
				err = os.Mkdir(partPath, 0o755)
			case tc.part >= 0:
				err = os.WriteFile(partPath, make([]byte, tc.part), 0o600)
			}
			if err != nil {
				t.Fatal(err)
			}
			got, absent := LoadRecord(root, dest)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got record %+v, want %+v", got, tc.want)
			}
			if absent != tc.absent {
				t.Errorf("got absent %v, want %v", absent, tc.absent)
			}
		})
	}
}

// TestRecordOffer: a record offers its durable ranges, but of a prefix
// from offset 0 only what its hash covers, with that hash.
func TestRecordOffer(t *testing.T) {
	h := zeroHash(10)
	tests := []struct {
		name     string
		rec      Record
		wantHave []wire.Range
		wantHash []byte
	}{
		{"nothing", Record{Size: 100}, nil, nil},
		{"no prefix", Record{Size: 100, Ranges: rs(10, 20, 50, 60)}, rs(10, 20, 50, 60), nil},
		{"prefix hashed through", Record{Size: 100, Ranges: rs(0, 10, 50, 60), Hashed: 10, Sum: h}, rs(0, 10, 50, 60), h},
		{"prefix hashed in part", Record{Size: 100, Ranges: rs(0, 30, 50, 60), Hashed: 10, Sum: h}, rs(0, 10, 50, 60), h},
		{"prefix not hashed", Record{Size: 100, Ranges: rs(0, 30, 50, 60)}, rs(50, 60), nil},
		{"whole file hashed", Record{Size: 100, Ranges: rs(0, 100), Hashed: 100, Sum: h}, rs(0, 100), h},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			have, hash := tc.rec.Offer()
			if !reflect.DeepEqual(have, tc.wantHave) {
				t.Errorf("got have %v, want %v", have, tc.wantHave)
			}
			if !bytes.Equal(hash, tc.wantHash) || (hash == nil) != (tc.wantHash == nil) {
				t.Errorf("got hash %x, want %x", hash, tc.wantHash)
			}
		})
	}
}

// TestRecordHashPrefix: a record whose held prefix its hash does not
// cover (a delta's) has it hashed from the .part, and then offers the
// whole prefix with that file hash; a .part too short to read leaves the
// record as it was; a prefix hashed through is not read at all.
func TestRecordHashPrefix(t *testing.T) {
	part := randomBytes(31, 100)
	want := FileHash(part[:30])
	rec := Record{Size: 100, Ranges: rs(0, 30, 50, 60)}
	rec.HashPrefix(bytes.NewReader(part))
	have, hash := rec.Offer()
	if !reflect.DeepEqual(have, rs(0, 30, 50, 60)) || !bytes.Equal(hash, want) || rec.Hashed != 30 {
		t.Errorf("got have %v, hash %x, hashed %d; want the prefix [0, 30) with its file hash %x", have, hash, rec.Hashed, want)
	}
	short := Record{Size: 100, Ranges: rs(0, 30)}
	short.HashPrefix(bytes.NewReader(part[:20]))
	if short.Hashed != 0 || short.Sum != nil {
		t.Errorf("a short .part gave hashed %d, sum %x; want the record untouched", short.Hashed, short.Sum)
	}
	h := zeroHash(10)
	through := Record{Size: 100, Ranges: rs(0, 10), Hashed: 10, Sum: h}
	through.HashPrefix(bytes.NewReader(nil)) // an empty .part: never read
	if !bytes.Equal(through.Sum, h) {
		t.Errorf("a prefix hashed through was hashed again: %x", through.Sum)
	}
}

// TestRecordRoundTrip: what SaveRecord writes LoadRecord reads back, as
// version 3, whatever version the caller set; the write leaves no
// temporary file.
func TestRecordRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		rec  Record
	}{
		{"no ranges", Record{Size: 100, MTime: 42}},
		{"one range", Record{Size: 1 << 30, MTime: -5, Ranges: []wire.Range{{Offset: 0, Length: 1 << 20}}}},
		{"several ranges", Record{Size: 1 << 40, MTime: 1700000000123456789, Ranges: []wire.Range{{Offset: 1, Length: 2}, {Offset: 1 << 32, Length: 1 << 33}, {Offset: 1<<40 - 1, Length: 1}}}},
		{"version 1 asked for", Record{Version: 1, Size: 10, MTime: 1, Ranges: []wire.Range{{Offset: 0, Length: 10}}}},
		{"prefix hash", Record{Size: 1 << 20, MTime: 3, Ranges: []wire.Range{{Offset: 0, Length: 100}, {Offset: 200, Length: 1}}, Hashed: 10, Sum: zeroHash(10)}},
		{"empty file", Record{Size: 0, MTime: 7}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, root := testutil.TempRoot(t)
			const dest = "f.bin"
			// A .part as long as the ranges claim.
			var end uint64
			for _, r := range tc.rec.Ranges {
				end = max(end, r.End())
			}
			f, err := root.Create(PartName(dest))
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Truncate(int64(end)); err != nil {
				t.Fatal(err)
			}
			f.Close()
			in := tc.rec
			if err := SaveRecord(root, dest, &in); err != nil {
				t.Fatalf("SaveRecord: %v", err)
			}
			got, absent := LoadRecord(root, dest)
			want := tc.rec
			want.Version = RecordVersion
			if got == nil || !reflect.DeepEqual(*got, want) {
				t.Fatalf("got %+v, want %+v", got, want)
			}
			if absent {
				t.Errorf("got absent true, want false")
			}
			if exists(t, dir, RecordName(dest)+".tmp") {
				t.Errorf("temporary record left behind")
			}
			if !got.Matches(FileMeta{Size: tc.rec.Size, MTime: timeOfNanos(tc.rec.MTime)}) {
				t.Errorf("Matches its own size and mtime: got false, want true")
			}
			if got.Matches(FileMeta{Size: tc.rec.Size + 1, MTime: timeOfNanos(tc.rec.MTime)}) {
				t.Errorf("Matches another size: got true, want false")
			}
			if got.Matches(FileMeta{Size: tc.rec.Size, MTime: timeOfNanos(tc.rec.MTime + 1)}) {
				t.Errorf("Matches another mtime: got true, want false")
			}
		})
	}
}

// TestRecordWideMTime checks that a record keeps an mtime beyond 2262
// exactly, through a save and a load, and matches no other instant: not
// one nanosecond off, not the 2262 the nanosecond form clamps to, nor the
// instant its UnixNano wraps to.
func TestRecordWideMTime(t *testing.T) {
	_, root := testutil.TempRoot(t)
	mt := time.Date(2445, 3, 4, 5, 6, 7, 123456789, time.UTC)
	meta := FileMeta{Size: 10, MTime: mt}
	if err := root.WriteFile(PartName("f"), make([]byte, 10), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := SaveRecord(root, "f", newRecord(meta, []wire.Range{{Offset: 0, Length: 4}}, 0, nil)); err != nil {
		t.Fatal(err)
	}
	b, _ := root.ReadFile(RecordName("f"))
	if !bytes.Contains(b, []byte(`"mtime":0,"mtime_sec":14994997567,"mtime_nsec":123456789`)) {
		t.Errorf("record %s: want mtime 0 and the seconds and nanoseconds of 2445", b)
	}
	rec, _ := LoadRecord(root, "f")
	if !rec.Matches(meta) {
		t.Fatalf("record %+v does not match its own source %v", rec, mt)
	}
	for _, other := range []time.Time{
		mt.Add(time.Nanosecond), mt.Add(-time.Nanosecond),
		time.Unix(0, math.MaxInt64), time.Unix(0, mt.UnixNano()), time.Unix(0, 0),
	} {
		if rec.Matches(FileMeta{Size: 10, MTime: other}) {
			t.Errorf("record of %v matches %v", mt, other)
		}
	}
	inRange := FileMeta{Size: 10, MTime: time.Unix(1700000000, 5)}
	if r := newRecord(inRange, nil, 0, nil); r.MTime != 1700000000000000005 || r.MTimeSec != 0 || !r.Matches(inRange) {
		t.Errorf("record of %v: got %+v, want Unix nanoseconds only", inRange.MTime, r)
	}
}

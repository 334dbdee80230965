package wire

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite the fuzz seed corpora in testdata/fuzz")

// FuzzFrames decodes arbitrary bytes as a sequence of frames. Whatever
// decodes must re-encode, in no more bytes, to something that decodes to an
// equal message.
func FuzzFrames(f *testing.F) {
	for _, seed := range frameSeeds() {
		f.Add(seed.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		for {
			before := r.Len()
			m, err := ReadFrame(r)
			if err != nil {
				if m != nil {
					t.Fatalf("ReadFrame returned %#v with error %v", m, err)
				}
				return
			}
			consumed := before - r.Len()
			frame := AppendFrame(nil, m)
			if len(frame) > consumed {
				t.Fatalf("%v frame re-encodes to %d bytes, was %d", m.Type(), len(frame), consumed)
			}
			got, err := ReadFrame(bytes.NewReader(frame))
			if err != nil {
				t.Fatalf("re-encoded %v frame %x does not decode: %v", m.Type(), frame, err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Fatalf("round trip changed the message:\ngot  %#v\nwant %#v", got, m)
			}
		}
	})
}

// FuzzRangeHeader decodes arbitrary bytes as a range stream header.
// Whatever decodes must re-encode, in no more bytes, to the same header.
func FuzzRangeHeader(f *testing.F) {
	for _, h := range seedRangeHeaders {
		f.Add(AppendRangeHeader(nil, h))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		h, err := ReadRangeHeader(r)
		if err != nil {
			if h != (RangeHeader{}) {
				t.Fatalf("ReadRangeHeader returned %+v with error %v", h, err)
			}
			return
		}
		b := AppendRangeHeader(nil, h)
		if consumed := len(data) - r.Len(); len(b) > consumed {
			t.Fatalf("header re-encodes to %d bytes, was %d", len(b), consumed)
		}
		got, err := ReadRangeHeader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("re-encoded header %x does not decode: %v", b, err)
		}
		if got != h {
			t.Fatalf("round trip: got %+v, want %+v", got, h)
		}
	})
}

// maxSeedLen keeps the seeds small: the fuzzer minimizes every new
// interesting input, and minimizing inputs grown from multi-KiB seeds stalls
// a short fuzzing run for most of its time. The large limit cases are
// covered by TestMessageRoundTrip.
const maxSeedLen = 128

type fuzzSeed struct {
	name string
	data []byte
}

// frameSeeds returns the FuzzFrames seeds: every small message case, and
// a few frames in a row with an unknown one among them.
func frameSeeds() []fuzzSeed {
	var seeds []fuzzSeed
	var row []byte
	for i, tc := range messageCases() {
		frame := AppendFrame(nil, tc.msg)
		if len(frame) > maxSeedLen {
			continue
		}
		seeds = append(seeds, fuzzSeed{strings.ReplaceAll(tc.name, " ", "_"), frame})
		if i < 4 {
			row = append(row, frame...)
		}
	}
	row = AppendFrame(row, &Unknown{FrameType: 0x30, Length: 4})
	row = AppendFrame(row, &OK{ID: 1})
	return append(seeds, fuzzSeed{"row_with_unknown", row})
}

var seedRangeHeaders = []RangeHeader{
	{},
	{ID: 9, Offset: 8 << 20, Length: 8 << 20},
	{ID: 1 << 40, Offset: 1<<62 - 1, Length: 1<<62 - 1},
}

// TestFuzzSeeds checks that the seed corpora in testdata/fuzz hold the
// current encodings; run with -update-seeds to rewrite them.
func TestFuzzSeeds(t *testing.T) {
	seeds := map[string][]byte{}
	for _, seed := range frameSeeds() {
		seeds[filepath.Join("FuzzFrames", seed.name)] = seed.data
	}
	for i, h := range seedRangeHeaders {
		seeds[filepath.Join("FuzzRangeHeader", fmt.Sprintf("header_%d", i))] = AppendRangeHeader(nil, h)
	}
	for name, data := range seeds {
		path := filepath.Join("testdata", "fuzz", name)
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		if *updateSeeds {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("missing seed (run go test -run TestFuzzSeeds -update-seeds): %v", err)
			continue
		}
		if string(got) != want {
			t.Errorf("seed %s is stale (run go test -run TestFuzzSeeds -update-seeds)", path)
		}
	}
}

package xfer

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/qxfer/qxfer/session/internal/wire"
)

func rs(pairs ...uint64) []wire.Range {
	var out []wire.Range
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, wire.Range{Offset: pairs[i], Length: pairs[i+1] - pairs[i]})
	}
	return out
}

func TestRangeSetAdd(t *testing.T) {
	tests := []struct {
		name string
		add  [][2]uint64 // start, end
		want []wire.Range
	}{
		{"empty", nil, nil},
		{"one", [][2]uint64{{10, 20}}, rs(10, 20)},
		{"zero length ignored", [][2]uint64{{10, 10}}, nil},
		{"disjoint sorted", [][2]uint64{{30, 40}, {10, 20}}, rs(10, 20, 30, 40)},
		{"adjacent merge", [][2]uint64{{10, 20}, {20, 30}}, rs(10, 30)},
		{"adjacent before", [][2]uint64{{20, 30}, {10, 20}}, rs(10, 30)},
		{"overlap", [][2]uint64{{10, 25}, {20, 30}}, rs(10, 30)},
		{"bridge three", [][2]uint64{{0, 5}, {10, 15}, {20, 25}, {4, 21}}, rs(0, 25)},
		{"inside", [][2]uint64{{0, 100}, {10, 20}}, rs(0, 100)},
		{"swallow", [][2]uint64{{10, 20}, {30, 40}, {0, 100}}, rs(0, 100)},
		{"between", [][2]uint64{{0, 10}, {50, 60}, {20, 30}}, rs(0, 10, 20, 30, 50, 60)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s RangeSet
			for _, a := range tc.add {
				s.Add(a[0], a[1]-a[0])
			}
			if got := s.Ranges(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ranges = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestRangeSetRandom checks the set against a bitmap.
func TestRangeSetRandom(t *testing.T) {
	const size = 300
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		var s RangeSet
		var bits [size]bool
		for k := 0; k < rng.IntN(12); k++ {
			a := rng.Uint64N(size)
			n := rng.Uint64N(size - a)
			s.Add(a, n)
			for i := a; i < a+n; i++ {
				bits[i] = true
			}
		}
		var want RangeSet
		var held, total uint64
		for i := uint64(0); i < size; i++ {
			if bits[i] {
				want.Add(i, 1)
				total++
			}
		}
		if !reflect.DeepEqual(s.Ranges(), want.Ranges()) {
			t.Fatalf("round %d: %v, bitmap says %v", round, s.Ranges(), want.Ranges())
		}
		if s.Total() != total {
			t.Fatalf("total %d, want %d", s.Total(), total)
		}
		for _, m := range s.Missing(size) {
			for i := m.Offset; i < m.End(); i++ {
				if bits[i] {
					t.Fatalf("missing %v includes held byte %d", m, i)
				}
			}
			held += m.Length
		}
		if held+total != size {
			t.Fatalf("missing covers %d bytes, want %d", held, size-total)
		}
		if s.Covers(size) != (total == size) {
			t.Fatalf("covers = %v with %d of %d bytes", s.Covers(size), total, size)
		}
	}
}

func TestRangeSetOfRejectsOutOfBounds(t *testing.T) {
	if _, ok := RangeSetOf(rs(0, 10, 90, 101), 100); ok {
		t.Error("a range past the end was accepted")
	}
	if _, ok := RangeSetOf([]wire.Range{{Offset: 1<<64 - 5, Length: 10}}, 100); ok {
		t.Error("an overflowing range was accepted")
	}
	s, ok := RangeSetOf(rs(0, 10, 5, 20), 100)
	if !ok || !reflect.DeepEqual(s.Ranges(), rs(0, 20)) {
		t.Errorf("got %v %v", s.Ranges(), ok)
	}
}

func TestSplit(t *testing.T) {
	got := split(rs(0, 10, 20, 23), 4)
	want := rs(0, 4, 4, 8, 8, 10, 20, 23)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("split = %v, want %v", got, want)
	}
}

func TestRangeSetRemoveContainsNext(t *testing.T) {
	tests := []struct {
		name     string
		remove   [2]uint64
		want     []wire.Range
		contains map[uint64]bool
		nextFrom [2]uint64 // off, want (limit 100)
	}{
		{"middle", [2]uint64{12, 15}, rs(10, 12, 15, 20, 30, 40), map[uint64]bool{11: true, 12: false, 14: false, 15: true, 20: false}, [2]uint64{12, 15}},
		{"whole range", [2]uint64{10, 20}, rs(30, 40), map[uint64]bool{10: false, 30: true, 39: true, 40: false}, [2]uint64{0, 30}},
		{"across two", [2]uint64{15, 35}, rs(10, 15, 35, 40), map[uint64]bool{14: true, 15: false, 35: true}, [2]uint64{20, 35}},
		{"nothing held", [2]uint64{50, 60}, rs(10, 20, 30, 40), map[uint64]bool{50: false}, [2]uint64{41, 100}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := RangeSetOf(rs(10, 20, 30, 40), 100)
			s.Remove(tc.remove[0], tc.remove[1]-tc.remove[0])
			if got := s.Ranges(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ranges = %v, want %v", got, tc.want)
			}
			for off, want := range tc.contains {
				if got := s.Contains(off); got != want {
					t.Errorf("Contains(%d) = %v, want %v", off, got, want)
				}
			}
			if got := s.NextFrom(tc.nextFrom[0], 100); got != tc.nextFrom[1] {
				t.Errorf("NextFrom(%d) = %d, want %d", tc.nextFrom[0], got, tc.nextFrom[1])
			}
		})
	}
}

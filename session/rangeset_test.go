package session

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
			var s rangeSet
			for _, a := range tc.add {
				s.add(a[0], a[1]-a[0])
			}
			if got := s.ranges(); !reflect.DeepEqual(got, tc.want) {
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
		var s rangeSet
		var bits [size]bool
		for k := 0; k < rng.IntN(12); k++ {
			a := rng.Uint64N(size)
			n := rng.Uint64N(size - a)
			s.add(a, n)
			for i := a; i < a+n; i++ {
				bits[i] = true
			}
		}
		var want rangeSet
		var held, total uint64
		for i := uint64(0); i < size; i++ {
			if bits[i] {
				want.add(i, 1)
				total++
			}
		}
		if !reflect.DeepEqual(s.ranges(), want.ranges()) {
			t.Fatalf("round %d: %v, bitmap says %v", round, s.ranges(), want.ranges())
		}
		if s.total() != total {
			t.Fatalf("total %d, want %d", s.total(), total)
		}
		for _, m := range s.missing(size) {
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
		if s.covers(size) != (total == size) {
			t.Fatalf("covers = %v with %d of %d bytes", s.covers(size), total, size)
		}
	}
}

func TestRangeSetOfRejectsOutOfBounds(t *testing.T) {
	if _, ok := rangeSetOf(rs(0, 10, 90, 101), 100); ok {
		t.Error("a range past the end was accepted")
	}
	if _, ok := rangeSetOf([]wire.Range{{Offset: 1<<64 - 5, Length: 10}}, 100); ok {
		t.Error("an overflowing range was accepted")
	}
	s, ok := rangeSetOf(rs(0, 10, 5, 20), 100)
	if !ok || !reflect.DeepEqual(s.ranges(), rs(0, 20)) {
		t.Errorf("got %v %v", s.ranges(), ok)
	}
}

func TestSplit(t *testing.T) {
	got := split(rs(0, 10, 20, 23), 4)
	want := rs(0, 4, 4, 8, 8, 10, 20, 23)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("split = %v, want %v", got, want)
	}
}

package xfer

import (
	"slices"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// RangeSet is a set of byte offsets held as sorted, disjoint, non-adjacent
// half-open ranges. The zero value is empty.
type RangeSet struct {
	r []wire.Range
}

// Add inserts [off, off+n).
func (s *RangeSet) Add(off, n uint64) {
	if n == 0 {
		return
	}
	start, end := off, off+n
	// First range whose end reaches start (touching ranges merge).
	i, _ := slices.BinarySearchFunc(s.r, start, func(r wire.Range, v uint64) int {
		if r.End() < v {
			return -1
		}
		return 1
	})
	j := i
	for j < len(s.r) && s.r[j].Offset <= end {
		start = min(start, s.r[j].Offset)
		end = max(end, s.r[j].End())
		j++
	}
	s.r = slices.Replace(s.r, i, j, wire.Range{Offset: start, Length: end - start})
}

// Clone returns a copy that shares no memory with s (Add changes a set's
// ranges in place).
func (s *RangeSet) Clone() RangeSet { return RangeSet{r: slices.Clone(s.r)} }

// Covers reports whether [0, size) is in the set.
func (s *RangeSet) Covers(size uint64) bool {
	if size == 0 {
		return true
	}
	return len(s.r) > 0 && s.r[0].Offset == 0 && s.r[0].Length >= size
}

// Prefix is the length of the run of held bytes from offset 0.
func (s *RangeSet) Prefix() uint64 {
	if len(s.r) > 0 && s.r[0].Offset == 0 {
		return s.r[0].Length
	}
	return 0
}

// Total is the number of bytes in the set.
func (s *RangeSet) Total() uint64 {
	var n uint64
	for _, r := range s.r {
		n += r.Length
	}
	return n
}

// Ranges returns a copy of the ranges.
func (s *RangeSet) Ranges() []wire.Range { return slices.Clone(s.r) }

// Missing returns the ranges of [0, size) not in the set.
func (s *RangeSet) Missing(size uint64) []wire.Range {
	var out []wire.Range
	at := uint64(0)
	for _, r := range s.r {
		if r.Offset >= size {
			break
		}
		if r.Offset > at {
			out = append(out, wire.Range{Offset: at, Length: r.Offset - at})
		}
		at = max(at, r.End())
	}
	if at < size {
		out = append(out, wire.Range{Offset: at, Length: size - at})
	}
	return out
}

// RangeSetOf builds a set from possibly overlapping ranges, dropping those
// that reach past size (a record or a peer claiming more than the file).
func RangeSetOf(rs []wire.Range, size uint64) (RangeSet, bool) {
	var s RangeSet
	for _, r := range rs {
		if r.End() < r.Offset || r.End() > size {
			return RangeSet{}, false
		}
		s.Add(r.Offset, r.Length)
	}
	return s, true
}

// split cuts ranges into pieces of at most chunk bytes.
func split(rs []wire.Range, chunk uint64) []wire.Range {
	var out []wire.Range
	for _, r := range rs {
		for r.Length > 0 {
			n := min(r.Length, chunk)
			out = append(out, wire.Range{Offset: r.Offset, Length: n})
			r.Offset += n
			r.Length -= n
		}
	}
	return out
}

// Contains reports whether off is in the set.
func (s *RangeSet) Contains(off uint64) bool {
	_, found := slices.BinarySearchFunc(s.r, off, func(r wire.Range, v uint64) int {
		if r.End() <= v {
			return -1
		}
		if r.Offset > v {
			return 1
		}
		return 0
	})
	return found
}

// Remove deletes [off, off+n) from the set.
func (s *RangeSet) Remove(off, n uint64) {
	if n == 0 {
		return
	}
	end := off + n
	var out []wire.Range
	for _, r := range s.r {
		if r.End() <= off || r.Offset >= end {
			out = append(out, r)
			continue
		}
		if r.Offset < off {
			out = append(out, wire.Range{Offset: r.Offset, Length: off - r.Offset})
		}
		if r.End() > end {
			out = append(out, wire.Range{Offset: end, Length: r.End() - end})
		}
	}
	s.r = out
}

// NextFrom returns the first offset at or after off that is in the set, or
// limit when there is none below limit.
func (s *RangeSet) NextFrom(off, limit uint64) uint64 {
	for _, r := range s.r {
		if r.End() > off {
			return min(max(r.Offset, off), limit)
		}
	}
	return limit
}

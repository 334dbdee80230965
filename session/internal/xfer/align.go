package xfer

import "github.com/qxfer/qxfer/session/internal/wire"

// splitAligned cuts rs at the multiples of part: every range lies within
// one part (PROTOCOL.md, "Part-aligned pushes"). Gaps that start at a
// part boundary, as a receiver's Have of whole parts leaves them, give
// whole parts.
func splitAligned(rs []wire.Range, part uint64) []wire.Range {
	var out []wire.Range
	for _, r := range rs {
		for r.Length > 0 {
			n := min(r.Length, part-r.Offset%part)
			out = append(out, wire.Range{Offset: r.Offset, Length: n})
			r.Offset += n
			r.Length -= n
		}
	}
	return out
}

// windowOpen reports whether one more range may be given a lane: always
// without a window (SenderConfig.Window).
func (sd *Sender) windowOpen() bool {
	if sd.cfg.Align == 0 {
		return true
	}
	return sd.open < max(sd.cfg.Window, 1)
}

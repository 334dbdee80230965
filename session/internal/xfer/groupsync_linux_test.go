package xfer

import "testing"

// TestParseDirty reads the Dirty line of /proc/meminfo texts, and refuses
// what it cannot trust (so that syncGroup falls back to syncfs, as
// before, rather than guessing).
func TestParseDirty(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want int64
		ok   bool
	}{
		{"real", "MemTotal:       24597120 kB\nMemFree:         1234 kB\nDirty:           1717200 kB\nWriteback:           0 kB\n", 1717200 << 10, true},
		{"zero", "Dirty:               0 kB\n", 0, true},
		{"no line", "MemTotal:       24597120 kB\n", 0, false},
		{"not kB", "Dirty:           17 MB\n", 0, false},
		{"not a number", "Dirty:           x kB\n", 0, false},
		{"negative", "Dirty:           -5 kB\n", 0, false},
		{"empty", "", 0, false},
		{"Dirty without colon is another line", "DirtyX: 5 kB\nDirty: 7 kB\n", 7 << 10, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseDirty([]byte(tc.in))
			if got != tc.want || ok != tc.ok {
				t.Errorf("parseDirty = %d, %v; want %d, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
	if d, ok := dirtyBytes(); !ok || d < 0 {
		t.Errorf("dirtyBytes on this machine = %d, %v; want a count", d, ok)
	}
}

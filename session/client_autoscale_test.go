package session

import "testing"

// TestGrowTo checks the sizes Auto's growing steps take: eightfold, from
// one connection at 1% loss or more straight to 64 (autoJumpLoss), and
// never past the bound.
func TestGrowTo(t *testing.T) {
	for _, tc := range []struct {
		size    int
		loss    float64
		maxSize int
		want    int
	}{
		{size: 1, loss: 0.005, maxSize: 64, want: 8},
		{size: 1, loss: 0.0099, maxSize: 64, want: 8},
		{size: 1, loss: 0.01, maxSize: 64, want: 64},
		{size: 1, loss: 0.02, maxSize: 64, want: 64},
		{size: 1, loss: 0.02, maxSize: 32, want: 32},
		{size: 1, loss: 0.02, maxSize: 4, want: 4},
		{size: 8, loss: 0.02, maxSize: 64, want: 64}, // only the first step jumps
		{size: 8, loss: 0.005, maxSize: 64, want: 64},
		{size: 2, loss: 0.05, maxSize: 64, want: 16},
		{size: 56, loss: 0.01, maxSize: 64, want: 64},
	} {
		if got := growTo(tc.size, tc.loss, tc.maxSize); got != tc.want {
			t.Errorf("growTo(%d, %.4f, %d) = %d, want %d", tc.size, tc.loss, tc.maxSize, got, tc.want)
		}
	}
}

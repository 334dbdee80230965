package xfer

import "testing"

// TestChunkClasses checks that a range takes the smallest buffer class
// that holds it: a 20 KiB file held a 256 KiB buffer, and 128 such files
// in flight made a push of the kernel tree peak at 92 MB (issue 17).
func TestChunkClasses(t *testing.T) {
	if got := minChunk << (chunkClasses - 1); got != ChunkSize {
		t.Fatalf("largest class %d bytes, want ChunkSize (%d)", got, ChunkSize)
	}
	if minChunk != 1<<minChunkBits {
		t.Fatalf("minChunk %d, want 1<<minChunkBits (%d)", minChunk, 1<<minChunkBits)
	}
	tests := []struct {
		name string
		n    uint64
		want int
	}{
		{"empty", 0, 16 << 10},
		{"one byte", 1, 16 << 10},
		{"16 KiB", 16 << 10, 16 << 10},
		{"16 KiB + 1", 16<<10 + 1, 32 << 10},
		{"20 KiB", 20 << 10, 32 << 10},
		{"32 KiB", 32 << 10, 32 << 10},
		{"33 KiB", 33 << 10, 64 << 10},
		{"100 KiB", 100 << 10, 128 << 10},
		{"128 KiB + 1", 128<<10 + 1, 256 << 10},
		{"256 KiB", 256 << 10, ChunkSize},
		{"256 KiB + 1", 256<<10 + 1, ChunkSize},
		{"1 GiB", 1 << 30, ChunkSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bp := getChunk(tt.n)
			if len(*bp) != tt.want || cap(*bp) != tt.want {
				t.Errorf("getChunk(%d): %d bytes (cap %d), want %d", tt.n, len(*bp), cap(*bp), tt.want)
			}
			// Given back, it goes to its own class: the next buffer of
			// the class has the class's size whatever the pool holds.
			putChunk(bp)
			if again := getChunk(tt.n); len(*again) != tt.want {
				t.Errorf("getChunk(%d) after putChunk: %d bytes, want %d", tt.n, len(*again), tt.want)
			}
		})
	}
	var lc lazyChunk
	if b := lc.get(); len(b) != ChunkSize {
		t.Errorf("lazyChunk: %d bytes, want %d", len(b), ChunkSize)
	}
	lc.release()
	if lc.b != nil {
		t.Error("lazyChunk kept its buffer after release")
	}
}

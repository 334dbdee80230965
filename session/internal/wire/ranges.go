package wire

// MaxRanges bounds the range list of an Accept or a Get.
const MaxRanges = 1024

// Range is a byte range [Offset, Offset+Length) of a file. Resume records
// store ranges as JSON objects keyed by these field names, so renaming a
// field (or tagging it) changes that format.
type Range struct {
	// Offset is the file offset of the first byte.
	Offset uint64
	// Length is the number of bytes.
	Length uint64
}

// End returns Offset+Length.
func (r Range) End() uint64 { return r.Offset + r.Length }

// minRangeLen is the length of the shortest encoded Range: two one-byte
// varints.
const minRangeLen = 2

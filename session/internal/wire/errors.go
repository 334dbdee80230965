package wire

import "errors"

// Decoding errors. ReadFrame and ParseMessage wrap them with the frame type
// and field, for example "put frame: path: string too long (5000 > 4096
// bytes)"; match them with errors.Is. Every one of them is a protocol
// violation by the peer.
var (
	// ErrFrameTooLarge means a frame payload is longer than MaxFrameSize.
	ErrFrameTooLarge = errors.New("frame too large")
	// ErrTruncated means a field runs past the end of the frame payload.
	ErrTruncated = errors.New("truncated payload")
	// ErrTrailingBytes means a payload has bytes after its last field.
	ErrTrailingBytes = errors.New("trailing bytes after last field")
	// ErrStringTooLong means a string or byte-string field is longer than
	// its limit.
	ErrStringTooLong = errors.New("string too long")
	// ErrBadMagic means a Hello does not start with Magic: the peer does not
	// speak qxfer.
	ErrBadMagic = errors.New("bad magic")
	// ErrBadBool means a bool field is neither 0 nor 1.
	ErrBadBool = errors.New("bool is neither 0 nor 1")
	// ErrBadHash means a hash field is not of its length (HashSize, or
	// ChecksumSize in a ChecksumResult).
	ErrBadHash = errors.New("hash of the wrong length")
	// ErrBadKind means an entry kind is not one of the defined EntryKinds.
	ErrBadKind = errors.New("unknown entry kind")
	// ErrBadMTime reports a wide mtime whose nanoseconds reach 10^9, or
	// that holds an instant with an 8-byte form.
	ErrBadMTime = errors.New("bad wide mtime")
	// ErrModeOverflow means a mode does not fit in 32 bits.
	ErrModeOverflow = errors.New("mode overflows 32 bits")
	// ErrUnknownStreamType means a unidirectional stream does not start with
	// a known StreamType.
	ErrUnknownStreamType = errors.New("unknown stream type")
	// ErrTooManyRanges means a range list is longer than MaxRanges.
	ErrTooManyRanges = errors.New("too many ranges")
)

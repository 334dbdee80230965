package wire

import "testing"

func TestErrorCodes(t *testing.T) {
	// The values are part of the protocol: this table must only grow.
	tests := []struct {
		code  ErrorCode
		value uint64
		name  string
	}{
		{NoError, 0x00, "no_error"},
		{ProtocolViolation, 0x01, "protocol_violation"},
		{VersionMismatch, 0x02, "version_mismatch"},
		{Internal, 0x03, "internal"},
		{NotFound, 0x04, "not_found"},
		{Exists, 0x05, "exists"},
		{PermissionDenied, 0x06, "permission_denied"},
		{InvalidPath, 0x07, "invalid_path"},
		{ReadOnly, 0x08, "read_only"},
		{NotRegular, 0x09, "not_regular"},
		{NoSpace, 0x0a, "no_space"},
		{IOError, 0x0b, "io_error"},
		{HashMismatch, 0x0c, "hash_mismatch"},
		{Cancelled, 0x0d, "cancelled"},
		{Busy, 0x0e, "busy"},
		{SourceChanged, 0x0f, "source_changed"},
		{Truncated, 0x10, "truncated"},
		{TooLong, 0x11, "too_long"},
		{UpToDate, 0x12, "up_to_date"},
		{Shutdown, 0x13, "shutdown"},
		{FrameTooLarge, 0x14, "frame_too_large"},
		{UnknownTransfer, 0x15, "unknown_transfer"},
		{LimitExceeded, 0x16, "limit_exceeded"},
		{Interrupted, 0x17, "interrupted"},
		{NotDirectory, 0x18, "not_directory"},
		{QuotaExceeded, 0x19, "quota_exceeded"},
		{SymlinkLoop, 0x1a, "symlink_loop"},
		{NameTooLong, 0x1b, "name_too_long"},
		{NotEmpty, 0x1c, "not_empty"},
		{RangeMisaligned, 0x1d, "range_misaligned"},
		{WrongServer, 0x1e, "wrong_server"},
		{BadDelta, 0x20, "bad_delta"},
	}
	defined := 0
	for _, ci := range codeInfo {
		if ci.name != "" {
			defined++
		}
	}
	if len(tests) != defined {
		t.Errorf("%d codes tested, %d defined", len(tests), defined)
	}
	descs := map[string]ErrorCode{}
	for _, tt := range tests {
		if uint64(tt.code) != tt.value {
			t.Errorf("%s = %#x, want %#x", tt.name, uint64(tt.code), tt.value)
		}
		if got := tt.code.String(); got != tt.name {
			t.Errorf("ErrorCode(%#x).String() = %q, want %q", tt.value, got, tt.name)
		}
		d := tt.code.Description()
		if d == "" {
			t.Errorf("%s has no description", tt.name)
		}
		if other, ok := descs[d]; ok {
			t.Errorf("%s and %s share the description %q", tt.name, other, d)
		}
		descs[d] = tt.code
	}
}

func TestErrorCodeUnknown(t *testing.T) {
	c := ErrorCode(0x3f) // far above the defined codes
	if got, want := c.String(), "error_0x3f"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got, want := c.Description(), "unknown error 0x3f"; got != want {
		t.Errorf("Description() = %q, want %q", got, want)
	}
	if got, want := ErrorCode(1<<62-1).String(), "error_0x3fffffffffffffff"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

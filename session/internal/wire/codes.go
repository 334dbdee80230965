package wire

import "fmt"

// ErrorCode says why a request, transfer or session failed. It travels in
// Reject, Done and Cancel frames, as the QUIC stream error code of a reset
// or stopped range stream and as the QUIC application error code of a closed
// connection. Values this version does not define must be accepted and
// treated like Internal.
type ErrorCode uint64

// The error codes, the same in protocol v1 and v2. Their values are part of
// the protocol.
const (
	NoError           ErrorCode = 0x00
	ProtocolViolation ErrorCode = 0x01
	VersionMismatch   ErrorCode = 0x02
	Internal          ErrorCode = 0x03
	NotFound          ErrorCode = 0x04
	Exists            ErrorCode = 0x05
	PermissionDenied  ErrorCode = 0x06
	InvalidPath       ErrorCode = 0x07
	ReadOnly          ErrorCode = 0x08
	NotRegular        ErrorCode = 0x09
	NoSpace           ErrorCode = 0x0a
	IOError           ErrorCode = 0x0b
	HashMismatch      ErrorCode = 0x0c
	Cancelled         ErrorCode = 0x0d
	Busy              ErrorCode = 0x0e
	SourceChanged     ErrorCode = 0x0f
	Truncated         ErrorCode = 0x10
	TooLong           ErrorCode = 0x11
	UpToDate          ErrorCode = 0x12
	Shutdown          ErrorCode = 0x13
	FrameTooLarge     ErrorCode = 0x14
	UnknownTransfer   ErrorCode = 0x15
	LimitExceeded     ErrorCode = 0x16
	Interrupted       ErrorCode = 0x17
	NotDirectory      ErrorCode = 0x18
	QuotaExceeded     ErrorCode = 0x19
	SymlinkLoop       ErrorCode = 0x1a
	NameTooLong       ErrorCode = 0x1b
	NotEmpty          ErrorCode = 0x1c
	// RangeMisaligned: a range stream of a push whose receiver asked for
	// part-aligned ranges (PartAlign) does not start at a part boundary
	// or does not end at one or at the end of the file.
	RangeMisaligned ErrorCode = 0x1d
	// WrongServer: a Join reached a server that does not hold the
	// session (another server behind the same name); the client joins at
	// the Welcome's JoinAddr.
	WrongServer ErrorCode = 0x1e
	// BadDelta: a delta plan names bytes outside either version of the
	// file, overlaps itself, or a chunk copied from the old version does
	// not have the BLAKE3 the plan gives (see PROTOCOL.md, "Delta").
	BadDelta ErrorCode = 0x20
)

var codeInfo = [...]struct{ name, desc string }{
	NoError:           {"no_error", "no error"},
	ProtocolViolation: {"protocol_violation", "the peer violated the protocol"},
	VersionMismatch:   {"version_mismatch", "the peers speak different protocol versions"},
	Internal:          {"internal", "internal error"},
	NotFound:          {"not_found", "no such file or directory"},
	Exists:            {"exists", "the destination already exists"},
	PermissionDenied:  {"permission_denied", "permission denied"},
	InvalidPath:       {"invalid_path", "the path is invalid or outside the served tree"},
	ReadOnly:          {"read_only", "the destination is read-only"},
	NotRegular:        {"not_regular", "not a regular file"},
	NoSpace:           {"no_space", "no space left on the device"},
	IOError:           {"io_error", "input/output error"},
	HashMismatch:      {"hash_mismatch", "the SHA-256 of the received file does not match the sender's"},
	Cancelled:         {"cancelled", "the transfer was cancelled"},
	Busy:              {"busy", "the same transfer is already running"},
	SourceChanged:     {"source_changed", "the source file changed during the transfer"},
	Truncated:         {"truncated", "the stream ended before the declared size"},
	TooLong:           {"too_long", "the stream carried more bytes than the declared size"},
	UpToDate:          {"up_to_date", "the destination is already identical"},
	Shutdown:          {"shutdown", "the peer is shutting down"},
	FrameTooLarge:     {"frame_too_large", "a frame exceeded the maximum size"},
	UnknownTransfer:   {"unknown_transfer", "no transfer with this ID"},
	LimitExceeded:     {"limit_exceeded", "a limit was exceeded"},
	Interrupted:       {"interrupted", "interrupted by the user"},
	NotDirectory:      {"not_directory", "not a directory"},
	QuotaExceeded:     {"quota_exceeded", "the client's quota on the server is used up"},
	SymlinkLoop:       {"symlink_loop", "too many levels of symbolic links (a symlink loop)"},
	NameTooLong:       {"name_too_long", "file name too long"},
	NotEmpty:          {"not_empty", "the directory is not empty"},
	RangeMisaligned:   {"range_misaligned", "a range is not aligned to the receiver's parts"},
	WrongServer:       {"wrong_server", "the session is held by another server"},
	BadDelta:          {"bad_delta", "the delta plan does not fit the old version of the file"},
}

// String returns the name of c, such as "protocol_violation", or
// "error_0x.." for a code this version does not define.
func (c ErrorCode) String() string {
	if c < ErrorCode(len(codeInfo)) && codeInfo[c].name != "" {
		return codeInfo[c].name
	}
	return fmt.Sprintf("error_%#x", uint64(c))
}

// Description returns a lower-case human description of c, such as "no
// such file or directory".
func (c ErrorCode) Description() string {
	if c < ErrorCode(len(codeInfo)) && codeInfo[c].desc != "" {
		return codeInfo[c].desc
	}
	return fmt.Sprintf("unknown error %#x", uint64(c))
}

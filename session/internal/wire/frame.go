// Package wire encodes and decodes the qxfer protocol v2 frames exchanged on
// the command channel, and the header that starts every range stream.
//
// A frame is
//
//	type (varint) | length (varint) | payload (length bytes)
//
// where varint is a QUIC variable-length integer (RFC 9000, Section 16).
// Every frame type has one struct implementing [Message]. [AppendFrame]
// encodes a message; [ReadFrame] and [ParseMessage] decode one. A frame type
// this version does not know decodes to an [*Unknown] so that the session can
// skip it, as HTTP/3 does. The byte layouts are specified in
// session/PROTOCOL.md.
//
// The codec checks what it can check without context: frame and field
// lengths, the Hello magic, bools, hash lengths, entry kinds, modes and the
// number of ranges in a list. The protocol version, the contents of paths,
// the meaning of IDs and flags and whether ranges fit the file are left to
// the session. Encoding does not validate: a message that breaks a
// limit encodes, and the peer rejects it.
package wire

import (
	"fmt"
	"io"
	"sync"

	"github.com/quic-go/quic-go/quicvarint"
)

const (
	// MaxFrameSize is the largest frame payload in bytes. ReadFrame rejects a
	// longer frame before reading or allocating its payload.
	MaxFrameSize = 64 << 10
	// MaxPathLen is the maximum length in bytes of a path or an entry name.
	MaxPathLen = 4096
	// MaxMessageLen is the maximum length in bytes of the free-text message
	// in Reject and Done.
	MaxMessageLen = 1024
	// MaxSoftwareLen is the maximum length in bytes of the software name in
	// Hello and Welcome.
	MaxSoftwareLen = 256
	// MaxTokenLen is the maximum length in bytes of Welcome.Token.
	MaxTokenLen = 32
	// Magic starts every Hello payload.
	Magic = "QXFR"
	// Version is the protocol version this package implements, carried in
	// Hello, Welcome and Join.
	Version = 3
)

// FrameType identifies the message carried by a frame.
type FrameType uint64

// The frame types of protocol v2. 0x11 and 0x12 are reserved: they were
// StripeAccept and StripeGet in v1, and like any other unknown type they
// decode to an [*Unknown].
const (
	FrameTypeHello      FrameType = 0x01
	FrameTypeWelcome    FrameType = 0x02
	FrameTypeList       FrameType = 0x03
	FrameTypeListResult FrameType = 0x04
	FrameTypeStat       FrameType = 0x05
	FrameTypeStatResult FrameType = 0x06
	FrameTypePut        FrameType = 0x07
	FrameTypeAccept     FrameType = 0x08
	FrameTypeGet        FrameType = 0x09
	FrameTypeFileInfo   FrameType = 0x0a
	FrameTypeReject     FrameType = 0x0b
	FrameTypeDone       FrameType = 0x0c
	FrameTypeCancel     FrameType = 0x0d
	FrameTypeMkdir      FrameType = 0x0e
	FrameTypeOK         FrameType = 0x0f
	FrameTypeJoin       FrameType = 0x10
	FrameTypeSeal       FrameType = 0x13
	FrameTypeAck        FrameType = 0x14
	FrameTypeDrop       FrameType = 0x15
	// FrameTypeDirMeta is far from the others, so types added meanwhile
	// on other branches do not collide with it.
	FrameTypeDirMeta FrameType = 0x20
	// Symbolic links (-l), numbered apart from the types added on other
	// branches of this release and from those the tests use as unknown.
	FrameTypeSymlink    FrameType = 0x60
	FrameTypeReadlink   FrameType = 0x61
	FrameTypeLinkTarget FrameType = 0x62
	FrameTypeRemove     FrameType = 0x16
	FrameTypeRename     FrameType = 0x17
	FrameTypeDf         FrameType = 0x18
	FrameTypeDfResult   FrameType = 0x19
	// Delta transfer of a changed file (PROTOCOL.md, "Delta").
	FrameTypeDeltaSig  FrameType = 0x80
	FrameTypeDeltaPlan FrameType = 0x81
	FrameTypeDeltaHave FrameType = 0x82

	// Checksum and ChecksumResult (-c/--checksum): 0x90-0x9f is the range
	// of the sync options (issue 18).
	FrameTypeChecksum       FrameType = 0x90
	FrameTypeChecksumResult FrameType = 0x91

	// Features and packed listings (listpacked.go): 0xa0-0xaf is the
	// range of issue 17's pull and no-op push work.
	FrameTypeFeatures         FrameType = 0xa0
	FrameTypeFeaturesResult   FrameType = 0xa1
	FrameTypeListPacked       FrameType = 0xa2
	FrameTypeListPackedResult FrameType = 0xa3
)

var frameTypeNames = [...]string{
	FrameTypeHello:      "hello",
	FrameTypeWelcome:    "welcome",
	FrameTypeList:       "list",
	FrameTypeListResult: "list_result",
	FrameTypeStat:       "stat",
	FrameTypeStatResult: "stat_result",
	FrameTypePut:        "put",
	FrameTypeAccept:     "accept",
	FrameTypeGet:        "get",
	FrameTypeFileInfo:   "file_info",
	FrameTypeReject:     "reject",
	FrameTypeDone:       "done",
	FrameTypeCancel:     "cancel",
	FrameTypeMkdir:      "mkdir",
	FrameTypeOK:         "ok",
	FrameTypeJoin:       "join",
	FrameTypeSeal:       "seal",
	FrameTypeAck:        "ack",
	FrameTypeDrop:       "drop",
	FrameTypeDirMeta:    "dir_meta",
	FrameTypeSymlink:    "symlink",
	FrameTypeReadlink:   "readlink",
	FrameTypeLinkTarget: "link_target",
	FrameTypeRemove:     "remove",
	FrameTypeRename:     "rename",
	FrameTypeDf:         "df",
	FrameTypeDfResult:   "df_result",
	FrameTypeDeltaSig:   "delta_sig",
	FrameTypeDeltaPlan:  "delta_plan",
	FrameTypeDeltaHave:  "delta_have",

	FrameTypeChecksum:       "checksum",
	FrameTypeChecksumResult: "checksum_result",

	FrameTypeFeatures:         "features",
	FrameTypeFeaturesResult:   "features_result",
	FrameTypeListPacked:       "list_packed",
	FrameTypeListPackedResult: "list_packed_result",
	FrameTypePartAlign:        "part_align",
}

// String returns the lower-case name of a known frame type, such as
// "list_result", and "frame_0x.." for any other.
func (t FrameType) String() string {
	if t.known() {
		return frameTypeNames[t]
	}
	return fmt.Sprintf("frame_%#x", uint64(t))
}

// known reports whether t is a frame type of this version.
func (t FrameType) known() bool {
	return t < FrameType(len(frameTypeNames)) && frameTypeNames[t] != ""
}

// Message is the payload of one frame: one of the message structs of
// this package, whose byte layout is in its doc comment (and, as code,
// in layouts.go).
type Message interface {
	// Type returns the frame type.
	Type() FrameType
}

// Unknown is a frame of a type this version does not know. ReadFrame
// discards its payload and returns its type and length so that the session
// can skip it. Appended, it is Length zero bytes.
type Unknown struct {
	// FrameType is the type read from the wire.
	FrameType FrameType
	// Length is the length of the discarded payload in bytes.
	Length uint64
}

// Type returns u.FrameType.
func (u *Unknown) Type() FrameType { return u.FrameType }

// AppendFrame appends m as a frame (type, length, payload) to b.
// It panics if a varint field of m exceeds quicvarint.Max (2^62-1), or if
// m is not a message of this package.
//
// The payload is appended after a one-byte length, the length of most
// control frames (up to 63 bytes), and moved up if its length needs a
// longer varint: one pass over the fields instead of measuring them first.
func AppendFrame(b []byte, m Message) []byte {
	b = quicvarint.Append(b, uint64(m.Type()))
	at := len(b)
	c := codec{op: opAppend, out: append(b, 0)}
	c.message(m)
	b = c.out
	n := len(b) - at - 1
	if l := quicvarint.Len(uint64(n)); l > 1 {
		b = append(b, make([]byte, l-1)...)
		copy(b[at+l:], b[at+1:at+1+n])
		quicvarint.AppendWithLen(b[:at], uint64(n), l)
		return b
	}
	b[at] = byte(n)
	return b
}

// appendPayload appends the payload of m, without type and length, to b.
func appendPayload(b []byte, m Message) []byte {
	c := codec{op: opAppend, out: b}
	c.message(m)
	return c.out
}

// payloadLen returns the length of the payload of m in bytes.
func payloadLen(m Message) int {
	c := codec{op: opSize}
	c.message(m)
	return c.n
}

// payloadPool holds frame payload buffers. ParseMessage copies everything
// it keeps out of the payload, so a buffer can be reused as soon as the
// message is parsed.
var payloadPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 512)
	return &b
}}

// ReadFrame reads exactly one frame from r and decodes it. It takes a
// quicvarint.Reader (io.Reader and io.ByteReader) so that it never reads
// past the end of the frame; wrap a stream with quicvarint.NewReader, or
// with bufio.NewReader if every later read goes through the same
// bufio.Reader.
//
// The frame length is checked against MaxFrameSize before the payload is
// read. A frame of an unknown type is discarded without being buffered and
// returned as an [*Unknown].
//
// ReadFrame returns io.EOF if r ends before the first byte of a frame and
// io.ErrUnexpectedEOF if it ends inside one. A payload that is complete but
// too short for its fields fails with ErrTruncated (see ParseMessage).
// Other read errors are returned wrapped, so errors.Is and errors.As still
// find them.
func ReadFrame(r quicvarint.Reader) (Message, error) {
	v, err := readVarint(r)
	if err != nil {
		return nil, err
	}
	t := FrameType(v)
	n, err := readVarint(r)
	if err != nil {
		return nil, fmt.Errorf("%v frame: length: %w", t, noEOF(err))
	}
	if n > MaxFrameSize {
		return nil, fmt.Errorf("%v frame: %w (%d > %d bytes)", t, ErrFrameTooLarge, n, MaxFrameSize)
	}
	if !t.known() {
		if _, err := io.CopyN(io.Discard, r, int64(n)); err != nil {
			return nil, fmt.Errorf("%v frame: %w", t, noEOF(err))
		}
		return &Unknown{FrameType: t, Length: n}, nil
	}
	bp := payloadPool.Get().(*[]byte)
	defer payloadPool.Put(bp)
	if uint64(cap(*bp)) < n {
		*bp = make([]byte, n)
	}
	payload := (*bp)[:n]
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, fmt.Errorf("%v frame: %w", t, noEOF(err))
	}
	return ParseMessage(t, payload)
}

// ParseMessage decodes the payload of a frame of type t. It does not retain
// payload. A payload longer than MaxFrameSize fails with ErrFrameTooLarge;
// one that ends inside a field fails with ErrTruncated; one with bytes after
// the last field fails with ErrTrailingBytes. A Hello whose magic is not
// [Magic] fails with ErrBadMagic. An unknown t is not an error: the result
// is an [*Unknown] with the payload's length.
func ParseMessage(t FrameType, payload []byte) (Message, error) {
	if len(payload) > MaxFrameSize {
		return nil, fmt.Errorf("%v frame: %w (%d > %d bytes)", t, ErrFrameTooLarge, len(payload), MaxFrameSize)
	}
	m := newMessage(t)
	if m == nil {
		return &Unknown{FrameType: t, Length: uint64(len(payload))}, nil
	}
	c := codec{op: opParse, p: parser{b: payload}}
	c.message(m)
	if err := c.p.finish(); err != nil {
		return nil, fmt.Errorf("%v frame: %w", t, err)
	}
	return m, nil
}

// newMessage returns a zero message of type t to parse into, or nil if t
// is not a frame type of this version.
func newMessage(t FrameType) Message {
	switch t {
	case FrameTypeHello:
		return new(Hello)
	case FrameTypeWelcome:
		return new(Welcome)
	case FrameTypeList:
		return new(List)
	case FrameTypeListResult:
		return new(ListResult)
	case FrameTypeFeatures:
		return new(Features)
	case FrameTypeFeaturesResult:
		return new(FeaturesResult)
	case FrameTypeListPacked:
		return new(ListPacked)
	case FrameTypeListPackedResult:
		return new(ListPackedResult)
	case FrameTypeStat:
		return new(Stat)
	case FrameTypeStatResult:
		return new(StatResult)
	case FrameTypePut:
		return new(Put)
	case FrameTypeAccept:
		return new(Accept)
	case FrameTypeGet:
		return new(Get)
	case FrameTypeFileInfo:
		return new(FileInfo)
	case FrameTypeReject:
		return new(Reject)
	case FrameTypeDone:
		return new(Done)
	case FrameTypeCancel:
		return new(Cancel)
	case FrameTypeMkdir:
		return new(Mkdir)
	case FrameTypeOK:
		return new(OK)
	case FrameTypeJoin:
		return new(Join)
	case FrameTypeSeal:
		return new(Seal)
	case FrameTypeAck:
		return new(Ack)
	case FrameTypeDrop:
		return new(Drop)
	case FrameTypeDirMeta:
		return new(DirMeta)
	case FrameTypeSymlink:
		return new(Symlink)
	case FrameTypeReadlink:
		return new(Readlink)
	case FrameTypeLinkTarget:
		return new(LinkTarget)
	case FrameTypeRemove:
		return new(Remove)
	case FrameTypeRename:
		return new(Rename)
	case FrameTypeDf:
		return new(Df)
	case FrameTypeChecksum:
		return new(Checksum)
	case FrameTypeChecksumResult:
		return new(ChecksumResult)
	case FrameTypeDfResult:
		return new(DfResult)
	case FrameTypeDeltaSig:
		return new(DeltaSig)
	case FrameTypeDeltaPlan:
		return new(DeltaPlan)
	case FrameTypeDeltaHave:
		return new(DeltaHave)
	case FrameTypePartAlign:
		return new(PartAlign)
	}
	return nil
}

// readVarint reads one QUIC varint from r. It returns io.EOF only if r ends
// before the first byte, and io.ErrUnexpectedEOF if it ends inside.
func readVarint(r io.ByteReader) (uint64, error) {
	var buf [8]byte
	first, err := r.ReadByte()
	if err != nil {
		return 0, err
	}
	buf[0] = first
	n := 1 << (first >> 6)
	for i := 1; i < n; i++ {
		if buf[i], err = r.ReadByte(); err != nil {
			return 0, noEOF(err)
		}
	}
	v, _, err := quicvarint.Parse(buf[:n])
	return v, err
}

// noEOF turns io.EOF into io.ErrUnexpectedEOF, for reads that started.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

package wire

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/quic-go/quic-go/quicvarint"
)

// TestWelcomeJoinAddrParse checks the optional field: a cut inside it is
// truncated, a cut before it is a Welcome without one, an empty one or
// one too long fails.
func TestWelcomeJoinAddrParse(t *testing.T) {
	w := &Welcome{Version: 2, MaxTransfers: 64, Token: seqToken(), Software: "s", JoinAddr: "server-a.example:4242"}
	payload := appendPayload(nil, w)
	base := len(appendPayload(nil, &Welcome{Version: 2, MaxTransfers: 64, Token: seqToken(), Software: "s"}))
	for i := base + 1; i < len(payload); i++ {
		if m, err := ParseMessage(FrameTypeWelcome, payload[:i]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("ParseMessage(payload[:%d]) = %#v, %v; want ErrTruncated", i, m, err)
		}
	}
	m, err := ParseMessage(FrameTypeWelcome, payload[:base])
	if err != nil || m.(*Welcome).JoinAddr != "" {
		t.Fatalf("without the field: got %#v, %v; want a Welcome with no JoinAddr", m, err)
	}
	tests := []struct {
		name    string
		payload []byte
		want    error
	}{
		{"empty join address", append(payload[:base:base], 0), ErrTrailingBytes},
		{"join address too long", cat(payload[:base:base], quicvarint.Append(nil, MaxJoinAddrLen+1), []byte(strings.Repeat("a", MaxJoinAddrLen+1))), ErrStringTooLong},
		{"bytes after the join address", append(payload, 0), ErrTrailingBytes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if m, err := ParseMessage(FrameTypeWelcome, tt.payload); !errors.Is(err, tt.want) {
				t.Fatalf("ParseMessage = %#v, %v; want %v", m, err, tt.want)
			}
		})
	}
	long := &Welcome{JoinAddr: strings.Repeat("a", MaxJoinAddrLen)}
	if m, err := ParseMessage(FrameTypeWelcome, appendPayload(nil, long)); err != nil || !reflect.DeepEqual(m, long) {
		t.Fatalf("longest join address: got %#v, %v; want %#v", m, err, long)
	}
}

package certs

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// emptyFP is the fingerprint of empty input; its text forms are well known
// (sha256sum of nothing).
var (
	emptyFP     = Fingerprint(sha256.Sum256(nil))
	emptyFPB64  = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"
	emptyFPHex  = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	emptyFPPair = "E3:B0:C4:42:98:FC:1C:14:9A:FB:F4:C8:99:6F:B9:24:27:AE:41:E4:64:9B:93:4C:A4:95:99:1B:78:52:B8:55"
)

// testFP returns a distinct fingerprint for each seed.
func testFP(seed string) Fingerprint {
	return Fingerprint(sha256.Sum256([]byte(seed)))
}

func TestFingerprintString(t *testing.T) {
	got := emptyFP.String()
	if got != emptyFPB64 {
		t.Errorf("got %q, want %q", got, emptyFPB64)
	}
	if len(got) != len("SHA256:")+43 {
		t.Errorf("got length %d, want %d", len(got), len("SHA256:")+43)
	}
	if got := FingerprintOf(nil); got != emptyFP {
		t.Errorf("FingerprintOf(nil): got %v, want %v", got, emptyFP)
	}
}

func TestFingerprintIsZero(t *testing.T) {
	tests := []struct {
		name string
		fp   Fingerprint
		want bool
	}{
		{name: "zero", fp: Fingerprint{}, want: true},
		{name: "non-zero", fp: emptyFP, want: false},
		{name: "last byte set", fp: Fingerprint{31: 1}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.fp.IsZero(); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseFingerprint(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Fingerprint
		wantErr bool
	}{
		{name: "canonical", in: emptyFPB64, want: emptyFP},
		{name: "padded", in: emptyFPB64 + "=", want: emptyFP},
		{name: "lower-case prefix", in: "sha256:" + emptyFPB64[7:], want: emptyFP},
		{name: "surrounding whitespace", in: " \t" + emptyFPB64 + "\r\n", want: emptyFP},
		{name: "hex lower", in: emptyFPHex, want: emptyFP},
		{name: "hex upper", in: strings.ToUpper(emptyFPHex), want: emptyFP},
		{name: "hex pairs", in: emptyFPPair, want: emptyFP},
		{name: "hex pairs lower", in: strings.ToLower(emptyFPPair), want: emptyFP},
		{name: "zero", in: "SHA256:" + strings.Repeat("A", 43), want: Fingerprint{}},

		{name: "empty", in: "", wantErr: true},
		{name: "prefix only", in: "SHA256:", wantErr: true},
		{name: "no prefix", in: emptyFPB64[7:], wantErr: true},
		{name: "short base64", in: emptyFPB64[:len(emptyFPB64)-1], wantErr: true},
		{name: "long base64", in: emptyFPB64 + "A", wantErr: true},
		{name: "double padding", in: emptyFPB64 + "==", wantErr: true},
		{name: "non-zero padding bits", in: emptyFPB64[:len(emptyFPB64)-1] + "V", wantErr: true},
		{name: "url alphabet", in: strings.NewReplacer("+", "-", "/", "_").Replace(emptyFPB64), wantErr: true},
		{name: "embedded newline", in: emptyFPB64[:20] + "\n" + emptyFPB64[21:], wantErr: true},
		{name: "embedded space", in: emptyFPB64[:20] + " " + emptyFPB64[21:], wantErr: true},
		{name: "md5 prefix", in: "MD5:" + emptyFPB64[7:], wantErr: true},
		{name: "short hex", in: emptyFPHex[:62], wantErr: true},
		{name: "long hex", in: emptyFPHex + "00", wantErr: true},
		{name: "bad hex digit", in: "g" + emptyFPHex[1:], wantErr: true},
		{name: "misplaced colon", in: "E3B:0" + emptyFPPair[5:], wantErr: true},
		{name: "hex pairs with dashes", in: strings.ReplaceAll(emptyFPPair, ":", "-"), wantErr: true},
		{name: "garbage", in: "not a fingerprint", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFingerprint(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrBadFingerprint) {
					t.Fatalf("got error %v, want %v", err, ErrBadFingerprint)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseFingerprintErrorMessage(t *testing.T) {
	long := strings.Repeat("x", 1000)
	tests := []struct {
		name   string
		in     string
		want   string
		maxLen int
	}{
		{name: "short input quoted", in: "bogus", want: `malformed fingerprint: "bogus"`, maxLen: 100},
		{name: "long input truncated", in: long, want: `malformed fingerprint: "xxx`, maxLen: 120},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseFingerprint(tt.in)
			if err == nil {
				t.Fatal("got nil error, want one")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tt.want) {
				t.Errorf("got %q, want prefix %q", msg, tt.want)
			}
			if len(msg) > tt.maxLen {
				t.Errorf("got message of %d bytes, want at most %d", len(msg), tt.maxLen)
			}
		})
	}
}

func TestFingerprintRoundTrip(t *testing.T) {
	for _, seed := range []string{"", "a", "b", "qxfer"} {
		fp := testFP(seed)
		t.Run(fp.String(), func(t *testing.T) {
			for _, s := range []string{fp.String(), hex.EncodeToString(fp[:])} {
				got, err := ParseFingerprint(s)
				if err != nil {
					t.Fatalf("ParseFingerprint(%q): got error %v, want nil", s, err)
				}
				if got != fp {
					t.Errorf("ParseFingerprint(%q): got %v, want %v", s, got, fp)
				}
			}
			text, err := fp.MarshalText()
			if err != nil {
				t.Fatalf("MarshalText: got error %v, want nil", err)
			}
			if string(text) != fp.String() {
				t.Errorf("MarshalText: got %q, want %q", text, fp.String())
			}
			var back Fingerprint
			if err := back.UnmarshalText(text); err != nil {
				t.Fatalf("UnmarshalText: got error %v, want nil", err)
			}
			if back != fp {
				t.Errorf("UnmarshalText: got %v, want %v", back, fp)
			}
		})
	}
}

func TestFingerprintUnmarshalTextError(t *testing.T) {
	fp := testFP("keep")
	err := fp.UnmarshalText([]byte("bogus"))
	if !errors.Is(err, ErrBadFingerprint) {
		t.Fatalf("got error %v, want %v", err, ErrBadFingerprint)
	}
	if fp != testFP("keep") {
		t.Errorf("got %v after failed UnmarshalText, want it unchanged", fp)
	}
}

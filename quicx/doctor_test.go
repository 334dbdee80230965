package quicx

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/qxfer/qxfer/certs"
)

func TestCheckBuffers(t *testing.T) {
	b, err := CheckBuffers()
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "linux" {
		return
	}
	if b.Granted.Read <= 0 || b.Granted.Write <= 0 {
		t.Errorf("granted %+v, want both sizes known on linux", b.Granted)
	}
	if _, err := os.Stat("/proc/sys/net/core/rmem_max"); err == nil && (b.ReadMax <= 0 || b.WriteMax <= 0) {
		t.Errorf("caps %d/%d, want both read from /proc/sys/net/core", b.ReadMax, b.WriteMax)
	}
	// An unprivileged socket gets at most the caps.
	if b.Granted.Read > max(b.ReadMax, WantBufferBytes) {
		t.Errorf("granted %d receive, above both the cap %d and the request %d", b.Granted.Read, b.ReadMax, WantBufferBytes)
	}
}

func TestBufferLimitsCapsOK(t *testing.T) {
	tests := []struct {
		name string
		b    BufferLimits
		want bool
	}{
		{name: "unknown", b: BufferLimits{}, want: true},
		{name: "enough", b: BufferLimits{ReadMax: WantBufferBytes, WriteMax: 8 << 20}, want: true},
		{name: "read cap low", b: BufferLimits{ReadMax: 212992, WriteMax: 8 << 20}, want: false},
		{name: "write cap low", b: BufferLimits{ReadMax: 8 << 20, WriteMax: 4 << 20}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.b.CapsOK(); got != tt.want {
				t.Errorf("CapsOK() = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSysctlConf checks that the sysctl.d lines set what SysctlHint sets,
// and enough.
func TestSysctlConf(t *testing.T) {
	conf, hint := SysctlConf(), SysctlHint()
	if len(conf) != len(hint) || len(conf) == 0 {
		t.Fatalf("got %d conf lines for %d hint lines", len(conf), len(hint))
	}
	for i, l := range conf {
		if hint[i] != "sysctl -w "+l {
			t.Errorf("conf line %q does not match hint %q", l, hint[i])
		}
		_, v, ok := strings.Cut(l, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < WantBufferBytes {
			t.Errorf("conf line %q: want NAME=N with N >= %d", l, WantBufferBytes)
		}
	}
}

func TestProbes(t *testing.T) {
	for _, tt := range []struct {
		name  string
		probe func() (Support, error)
		env   string
	}{
		{name: "gso", probe: ProbeGSO, env: "QUIC_GO_DISABLE_GSO"},
		{name: "ecn", probe: ProbeECN, env: "QUIC_GO_DISABLE_ECN"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(tt.env, "")
			s, err := tt.probe()
			if err != nil {
				t.Fatal(err)
			}
			if runtime.GOOS != "linux" {
				if s != SupportUnknown {
					t.Errorf("got %v, want unknown on %s", s, runtime.GOOS)
				}
				return
			}
			if s != Supported && s != Unsupported {
				t.Fatalf("got %v, want supported or unsupported on linux", s)
			}
			t.Setenv(tt.env, "true")
			d, err := tt.probe()
			if err != nil {
				t.Fatal(err)
			}
			if s == Supported && d != Disabled {
				t.Errorf("with %s=true got %v, want disabled", tt.env, d)
			}
		})
	}
}

func TestPathMTU(t *testing.T) {
	mtu, ipv6, err := PathMTU("127.0.0.1:9")
	if runtime.GOOS != "linux" {
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("got %d, %v; want ErrUnsupported on %s", mtu, err, runtime.GOOS)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if ipv6 {
		t.Error("127.0.0.1 reported as IPv6")
	}
	// Loopback MTUs are large (65536 by default); QUIC needs 1228.
	if mtu < MinPathMTU(false) {
		t.Errorf("loopback path MTU %d, want at least %d", mtu, MinPathMTU(false))
	}
	if _, _, err := PathMTU("no port"); err == nil {
		t.Error("PathMTU of a malformed address succeeded")
	}
}

// TestALPNRefused dials a server that speaks another protocol.
func TestALPNRefused(t *testing.T) {
	ln, _ := listen(t, identity(t), func(certs.Fingerprint) error { return nil })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, ln.Addr().String(), ClientTLS(identity(t), "qxfer/999", "x", func(certs.Fingerprint) error { return nil }), Config{}, zerolog.Nop())
	if err == nil {
		c.Close(0, "")
		t.Fatal("dial with another ALPN succeeded")
	}
	if !IsALPNRefused(err) {
		t.Errorf("got %v, want an ALPN refusal", err)
	}
	if IsALPNRefused(errors.New("x")) || IsPeerRefusedCert(err) {
		t.Error("IsALPNRefused or IsPeerRefusedCert confused")
	}
}

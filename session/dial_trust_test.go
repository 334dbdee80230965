package session

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qxfer/qxfer/certs"
)

// TestDialTrust runs Dial's trust policy (certs.HostCheck) against a real
// server: any matching known_hosts entry accepts, entries that all differ
// refuse inside the handshake, an unknown server is pinned only once the
// session is up.
func TestDialTrust(t *testing.T) {
	open := startServer(t, ServerConfig{}, nil)
	refusing := startServer(t, ServerConfig{}, func(certs.Fingerprint) error { return errors.New("not listed") })
	other := certs.FingerprintOf([]byte("someone else"))
	other2 := certs.FingerprintOf([]byte("someone else again"))
	tests := []struct {
		name        string
		ts          *testServer
		knownHosts  string // known_hosts content with $ADDR, $SERVER, $OTHER, $OTHER2; "-": none
		pinned      bool   // pin the server's fingerprint
		pinnedOther bool   // pin another fingerprint
		wantFile    string // known_hosts afterwards; "" for no file
		wantNewHost bool
		wantMis     *certs.MismatchError // Host, Got and File are filled in below
		wantUnauth  bool
		wantErr     error
	}{
		{name: "first use pins", ts: open, wantNewHost: true, wantFile: "$ADDR $SERVER\n"},
		{name: "known", ts: open, knownHosts: "$ADDR $SERVER\n", wantFile: "$ADDR $SERVER\n"},
		{
			name: "any matching entry", ts: open,
			knownHosts: "$ADDR $OTHER\n$ADDR $SERVER\n", wantFile: "$ADDR $OTHER\n$ADDR $SERVER\n",
		},
		{
			name: "no matching entry", ts: open,
			knownHosts: "127.0.0.2:1 $SERVER\n$ADDR $OTHER\n$ADDR $OTHER2\n",
			wantFile:   "127.0.0.2:1 $SERVER\n$ADDR $OTHER\n$ADDR $OTHER2\n",
			wantMis:    &certs.MismatchError{Want: other, Line: 2},
		},
		{name: "pinned", ts: open, knownHosts: "-", pinned: true},
		{name: "pinned wrong", ts: open, knownHosts: "-", pinnedOther: true, wantMis: &certs.MismatchError{Want: other}},
		{name: "refused client pins nothing", ts: refusing, knownHosts: "", wantUnauth: true},
		{name: "no way to verify", ts: open, knownHosts: "-", wantErr: certs.ErrNoTrust},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fp := tt.ts.id.Fingerprint
			expand := strings.NewReplacer(
				"$ADDR", tt.ts.addr, "$SERVER", fp.String(),
				"$OTHER2", other2.String(), "$OTHER", other.String(),
			).Replace
			path := filepath.Join(t.TempDir(), certs.KnownHostsFile)
			cfg := ClientConfig{Identity: newIdentity(t), WatchRoute: -1, Logger: testLogger(t)}
			if tt.knownHosts != "-" {
				if tt.knownHosts != "" {
					if err := os.WriteFile(path, []byte(expand(tt.knownHosts)), 0o600); err != nil {
						t.Fatal(err)
					}
				}
				kh, err := certs.LoadKnownHosts(path)
				if err != nil {
					t.Fatal(err)
				}
				cfg.KnownHosts = kh
			}
			switch {
			case tt.pinned:
				cfg.Fingerprint = fp
			case tt.pinnedOther:
				cfg.Fingerprint = other
			}
			var newHost []string
			cfg.OnNewHost = func(host string, got certs.Fingerprint) {
				newHost = append(newHost, host+" "+got.String())
			}

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := dialConn(ctx, tt.ts.addr, cfg)
			if c != nil {
				defer c.Close()
			}
			var mis *certs.MismatchError
			var unauth *UnauthorizedError
			switch {
			case tt.wantMis != nil:
				if !errors.As(err, &mis) {
					t.Fatalf("got error %v, want *certs.MismatchError", err)
				}
				want := *tt.wantMis
				want.Host, want.Got = tt.ts.addr, fp
				if tt.knownHosts != "-" {
					want.File = path
				}
				if *mis != want {
					t.Errorf("got %+v, want %+v", *mis, want)
				}
			case tt.wantUnauth:
				if !errors.As(err, &unauth) {
					t.Fatalf("got error %v, want *UnauthorizedError", err)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got error %v, want %v", err, tt.wantErr)
				}
			case err != nil:
				t.Fatalf("got error %v, want nil", err)
			}

			wantNew := []string(nil)
			if tt.wantNewHost {
				wantNew = []string{tt.ts.addr + " " + fp.String()}
			}
			if len(newHost) != len(wantNew) || len(wantNew) == 1 && newHost[0] != wantNew[0] {
				t.Errorf("OnNewHost: got %q, want %q", newHost, wantNew)
			}
			data, err := os.ReadFile(path)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			if got, want := string(data), expand(tt.wantFile); got != want {
				t.Errorf("got known_hosts %q, want %q", got, want)
			}
		})
	}
}

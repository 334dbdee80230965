package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/qxfer/qxfer/quicx"
)

const defPort = quicx.DefaultPort

// remoteCase is one input of a parseRemote or parseHostArg test.
type remoteCase struct {
	name    string
	in      string
	want    remote
	wantErr string // substring of the error; "" means success
	notRem  bool   // the error wraps errNotRemote (checked for parseRemote)
}

// testParse runs the cases through parse, called fn in the messages. With
// notRemote it also checks that an error wraps errNotRemote exactly when
// the case says so.
func testParse(t *testing.T, fn string, parse func(string) (remote, error), notRemote bool, tests []remoteCase) {
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("%s(%q) = %+v, want an error containing %q", fn, tt.in, got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("%s(%q): got error %q, want it to contain %q", fn, tt.in, err, tt.wantErr)
				}
				if got := errors.Is(err, errNotRemote); notRemote && got != tt.notRem {
					t.Errorf("%s(%q): errors.Is(err, errNotRemote) = %v, want %v (err %q)", fn, tt.in, got, tt.notRem, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s(%q): got error %q, want %+v", fn, tt.in, err, tt.want)
			}
			if got != tt.want {
				t.Errorf("%s(%q): got %+v, want %+v", fn, tt.in, got, tt.want)
			}
		})
	}
}

func TestParseRemote(t *testing.T) {
	testParse(t, "parseRemote", parseRemote, true, []remoteCase{
		{name: "host and dir", in: "host:dir", want: remote{"host", defPort, "dir"}},
		{name: "host and root", in: "host:", want: remote{"host", defPort, ""}},
		{name: "port and dir", in: "host:4433:dir", want: remote{"host", 4433, "dir"}},
		{name: "port and root", in: "host:4433:", want: remote{"host", 4433, ""}},
		{name: "other port", in: "example.org:9000:a/b", want: remote{"example.org", 9000, "a/b"}},
		{name: "ipv6 with port", in: "[::1]:4433:dir", want: remote{"::1", 4433, "dir"}},
		{name: "ipv6 without port", in: "[::1]:dir", want: remote{"::1", defPort, "dir"}},
		{name: "ipv6 root", in: "[2001:db8::1]:", want: remote{"2001:db8::1", defPort, ""}},
		{name: "ipv4 in brackets", in: "[127.0.0.1]:5:x", want: remote{"127.0.0.1", 5, "x"}},
		{name: "colon in path", in: "host:a:b", want: remote{"host", defPort, "a:b"}},
		{name: "port then colon in path", in: "host:4433:a:b", want: remote{"host", 4433, "a:b"}},
		// Only an element between two colons is a port: here 4433 is the path.
		{name: "number alone is a path", in: "host:4433", want: remote{"host", defPort, "4433"}},
		// Six digits cannot be a port, so they are part of the path.
		{name: "six digits are a path", in: "host:123456:x", want: remote{"host", defPort, "123456:x"}},
		{name: "leading zeros", in: "host:080:x", want: remote{"host", 80, "x"}},
		{name: "absolute path", in: "host:/srv/x", want: remote{"host", defPort, "/srv/x"}},
		{name: "windows drive", in: `C:\x`, want: remote{"C", defPort, `\x`}},

		{name: "port too big", in: "h:99999:x", wantErr: `bad port "99999"`},
		{name: "port zero", in: "h:0:x", wantErr: `bad port "0"`},
		{name: "no colon", in: "nohost", wantErr: "not a remote path", notRem: true},
		{name: "empty", in: "", wantErr: "missing host", notRem: true},
		{name: "no host", in: ":path", wantErr: "missing host", notRem: true},
		{name: "ipv6 without colon", in: "[::1]", wantErr: "not a remote path", notRem: true},
		{name: "unclosed bracket", in: "[::1", wantErr: "missing ]"},
		{name: "not an ip in brackets", in: "[notip]:x", wantErr: "not an IPv6 address"},
		{name: "empty brackets", in: "[]:x", wantErr: "not an IPv6 address"},
		{name: "junk after bracket", in: "[::1]x:y", wantErr: "unexpected"},
		{name: "slash in host", in: "a/b:c", wantErr: "bad host name"},
		{name: "space in host", in: "a b:c", wantErr: "bad host name"},
	})
}

func TestParseHostArg(t *testing.T) {
	testParse(t, "parseHostArg", parseHostArg, false, []remoteCase{
		{name: "host", in: "host", want: remote{"host", defPort, ""}},
		{name: "host and port", in: "host:4433", want: remote{"host", 4433, ""}},
		{name: "host and dir", in: "host:dir", want: remote{"host", defPort, "dir"}},
		{name: "host port dir", in: "host:4433:dir", want: remote{"host", 4433, "dir"}},
		{name: "host port root", in: "host:4433:", want: remote{"host", 4433, ""}},
		{name: "host and empty path", in: "host:", want: remote{"host", defPort, ""}},
		{name: "colon in path", in: "host:dir:sub", want: remote{"host", defPort, "dir:sub"}},
		{name: "ipv6", in: "[::1]", want: remote{"::1", defPort, ""}},
		{name: "ipv6 and port", in: "[::1]:4433", want: remote{"::1", 4433, ""}},
		{name: "ipv6 port dir", in: "[::1]:9:d", want: remote{"::1", 9, "d"}},
		{name: "ipv6 and dir", in: "[::1]:d", want: remote{"::1", defPort, "d"}},

		{name: "port too big", in: "host:99999", wantErr: `bad port "99999"`},
		{name: "port too big with dir", in: "host:99999:d", wantErr: `bad port "99999"`},
		{name: "empty", in: "", wantErr: "missing host"},
		{name: "no host", in: ":4433", wantErr: "missing host"},
		{name: "unclosed bracket", in: "[::1", wantErr: "missing ]"},
		{name: "not an ip", in: "[host]", wantErr: "not an IPv6 address"},
	})
}

func TestRemoteAddr(t *testing.T) {
	tests := []struct {
		name string
		r    remote
		want string
	}{
		{name: "name", r: remote{Host: "host", Port: 4433}, want: "host:4433"},
		{name: "ipv6", r: remote{Host: "::1", Port: 9}, want: "[::1]:9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.Addr(); got != tt.want {
				t.Errorf("%+v.Addr() = %q, want %q", tt.r, got, tt.want)
			}
		})
	}
}

// formatRemote writes r back in the explicit HOST:PORT:PATH form.
func formatRemote(r remote) string {
	host := r.Host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return fmt.Sprintf("%s:%d:%s", host, r.Port, r.Path)
}

func FuzzParseRemote(f *testing.F) {
	for _, s := range []string{
		"host:dir", "host:", "host:4433:dir", "[::1]:4433:dir", "[::1]:dir",
		"host:a:b", "h:99999:x", "nohost", ":path", "[::1", "[notip]:x", `C:\x`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if r, err := parseHostArg(s); err == nil {
			if r.Port < 1 || r.Port > 65535 || r.Host == "" {
				t.Fatalf("parseHostArg(%q) = %+v: bad port or empty host", s, r)
			}
		}
		r, err := parseRemote(s)
		if err != nil {
			return
		}
		if r.Port < 1 || r.Port > 65535 {
			t.Fatalf("parseRemote(%q): got port %d, want 1..65535", s, r.Port)
		}
		if r.Host == "" || strings.ContainsAny(r.Host, "[]") {
			t.Fatalf("parseRemote(%q): got host %q, want non-empty without brackets", s, r.Host)
		}
		again := formatRemote(r)
		r2, err := parseRemote(again)
		if err != nil {
			t.Fatalf("parseRemote(%q) = %+v, but its explicit form %q does not parse: %v", s, r, again, err)
		}
		if r2 != r {
			t.Fatalf("parseRemote(%q) = %+v, but its explicit form %q parses as %+v", s, r, again, r2)
		}
	})
}

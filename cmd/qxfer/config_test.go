package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/qxfer/qxfer/certs"
)

func init() {
	scriptCmds["splitaddr"] = cmdSplitAddr
}

// cmdSplitAddr implements "splitaddr NAME HOST:PORT": sets $NAME_HOST and
// $NAME_PORT, for config files that name them separately.
func cmdSplitAddr(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: splitaddr NAME HOST:PORT")
	}
	h, p, err := net.SplitHostPort(args[1])
	ts.Check(err)
	ts.Setenv(args[0]+"_HOST", h)
	ts.Setenv(args[0]+"_PORT", p)
}

const testFP = "SHA256:aYrrMi8bc10U99iMkLDHLQpzLNiLArKEBrk/x3QV+FU"

func mustFP(t *testing.T, s string) certs.Fingerprint {
	t.Helper()
	fp, err := certs.ParseFingerprint(s)
	if err != nil {
		t.Fatal(err)
	}
	return fp
}

func TestParseConfig(t *testing.T) {
	fp := mustFP(t, testFP)
	tests := []struct {
		name      string
		in        string
		wantFlags map[string]string
		wantHosts map[string]hostAlias
		wantErr   string // regexp on the error; "" means success
	}{
		{name: "empty", in: "", wantFlags: map[string]string{}, wantHosts: map[string]hostAlias{}},
		{
			name: "flags and aliases",
			in: `parallel = 4
retry-for = "5m"
force = true
limit-rate = 1.5

[hosts.build-box]
host = "10.0.0.7"
port = 4500
fingerprint = "` + testFP + `"

[hosts.v6]
host = "[2001:db8::1]"
`,
			wantFlags: map[string]string{"parallel": "4", "retry-for": "5m", "force": "true", "limit-rate": "1.5"},
			wantHosts: map[string]hostAlias{
				"build-box": {Host: "10.0.0.7", Port: 4500, Fingerprint: fp},
				"v6":        {Host: "2001:db8::1"},
			},
		},
		{name: "malformed", in: "parallel = 4\nretry-for = \n", wantErr: `^/c/config\.toml:2:\d+: `},
		{name: "unterminated table", in: "[hosts.x\n", wantErr: `^/c/config\.toml:1:\d+: `},
		{name: "unknown table", in: "[serve]\nroot = \"/srv\"\n", wantErr: `^/c/config\.toml: serve: unknown table or bad value \(a table\)$`},
		{name: "array value", in: "parallel = [1, 2]\n", wantErr: `^/c/config\.toml: parallel: unknown table or bad value \(an array\)$`},
		{name: "unknown alias key", in: "[hosts.a]\nhost = \"h\"\nuser = \"me\"\n", wantErr: `^/c/config\.toml: hosts\.a\.user: unknown key$`},
		{name: "missing host", in: "[hosts.a]\nport = 1\n", wantErr: `^/c/config\.toml: hosts\.a: missing host$`},
		{name: "port zero", in: "[hosts.a]\nhost = \"h\"\nport = 0\n", wantErr: `hosts\.a\.port: want a port number from 1 to 65535, got 0$`},
		{name: "port string", in: "[hosts.a]\nhost = \"h\"\nport = \"80\"\n", wantErr: `hosts\.a\.port: want a port number from 1 to 65535, got "80"$`},
		{name: "host with port", in: "[hosts.a]\nhost = \"h:80\"\n", wantErr: `hosts\.a\.host: bad host "h:80"`},
		{name: "host not a string", in: "[hosts.a]\nhost = 7\n", wantErr: `hosts\.a\.host: want a string, got an integer$`},
		{name: "bad fingerprint", in: "[hosts.a]\nhost = \"h\"\nfingerprint = \"SHA256:nope\"\n", wantErr: `hosts\.a\.fingerprint: malformed fingerprint`},
		{name: "zero fingerprint", in: "[hosts.a]\nhost = \"h\"\nfingerprint = \"SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"\n", wantErr: `hosts\.a\.fingerprint: .*all-zero`},
		{name: "alias with colon", in: "[hosts.\"a:b\"]\nhost = \"h\"\n", wantErr: `hosts\."a:b": bad alias name$`},
		{name: "alias not a table", in: "hosts = { a = 1 }\n", wantErr: `hosts\.a: want a table, got an integer$`},
		{name: "hosts not a table", in: "hosts = \"x\"\n", wantErr: `: hosts: want tables \[hosts\.NAME\], got a string$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig("/c/config.toml", strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("got %+v, want an error matching %q", c, tt.wantErr)
				}
				if !regexp.MustCompile(tt.wantErr).MatchString(err.Error()) {
					t.Fatalf("got error %q, want one matching %q", err, tt.wantErr)
				}
				var ce *configError
				if !errors.As(err, &ce) || ce.ExitCode() != exitUsage {
					t.Fatalf("got %T, want a *configError with exit status %d", err, exitUsage)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !equalMaps(c.flags, tt.wantFlags) {
				t.Errorf("got flags %v, want %v", c.flags, tt.wantFlags)
			}
			if !equalMaps(c.hosts, tt.wantHosts) {
				t.Errorf("got hosts %+v, want %+v", c.hosts, tt.wantHosts)
			}
		})
	}
}

func equalMaps[V comparable](a, b map[string]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestResolveAlias(t *testing.T) {
	fp := mustFP(t, testFP)
	cfg := &config{hosts: map[string]hostAlias{
		"box":    {Host: "10.0.0.7", Port: 4500, Fingerprint: fp},
		"noport": {Host: "example.org"},
	}}
	tests := []struct {
		name    string
		cfg     *config
		in      string // parsed with parseRemote
		want    remote
		wantPin certs.Fingerprint
	}{
		{name: "alias", cfg: cfg, in: "box:dir", want: remote{"10.0.0.7", 4500, "dir"}, wantPin: fp},
		{name: "alias root", cfg: cfg, in: "box:", want: remote{"10.0.0.7", 4500, ""}, wantPin: fp},
		{name: "explicit port wins", cfg: cfg, in: "box:5000:dir", want: remote{"10.0.0.7", 5000, "dir"}, wantPin: fp},
		{name: "alias without port", cfg: cfg, in: "noport:x", want: remote{"example.org", defPort, "x"}},
		{name: "alias without port, explicit port", cfg: cfg, in: "noport:9:x", want: remote{"example.org", 9, "x"}},
		{name: "not an alias", cfg: cfg, in: "other:x", want: remote{"other", defPort, "x"}},
		{name: "case matters", cfg: cfg, in: "BOX:x", want: remote{"BOX", defPort, "x"}},
		{name: "no config file", cfg: nil, in: "box:x", want: remote{"box", defPort, "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseRemote(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			got, pin := tt.cfg.resolve(r)
			if got != tt.want || pin != tt.wantPin {
				t.Errorf("resolve(%q) = %+v, %v; want %+v, %v", tt.in, got, pin, tt.want, tt.wantPin)
			}
		})
	}
}

// TestConfigPrecedence parses real command lines with the real CLI and a
// config file: a flag beats its environment variable, which beats the
// file, which beats the default.
func TestConfigPrecedence(t *testing.T) {
	tests := []struct {
		name   string
		config string
		env    map[string]string
		args   []string
		want   func(c *cli) string
		expect string
	}{
		{name: "default", args: []string{"push", "a", "h:"}, want: parallelOf, expect: "8"},
		{name: "config", config: "parallel = 3", args: []string{"push", "a", "h:"}, want: parallelOf, expect: "3"},
		{name: "env beats config", config: "parallel = 3", env: map[string]string{"QXFER_PARALLEL": "5"}, args: []string{"push", "a", "h:"}, want: parallelOf, expect: "5"},
		{name: "flag beats env and config", config: "parallel = 3", env: map[string]string{"QXFER_PARALLEL": "5"}, args: []string{"push", "-j", "7", "a", "h:"}, want: parallelOf, expect: "7"},
		{name: "flag beats config", config: "parallel = 3", args: []string{"pull", "--parallel=9", "h:a", "."}, want: func(c *cli) string { return itoa(c.Pull.Parallel) }, expect: "9"},
		{name: "global flag from config", config: `log-level = "debug"`, args: []string{"version"}, want: func(c *cli) string { return c.LogLevel }, expect: "debug"},
		{name: "global env beats config", config: `log-level = "debug"`, env: map[string]string{"QXFER_LOG_LEVEL": "warn"}, args: []string{"version"}, want: func(c *cli) string { return c.LogLevel }, expect: "warn"},
		{name: "empty env still beats config", config: `retry-for = "5m"`, env: map[string]string{"QXFER_RETRY_FOR": ""}, args: []string{"pull", "h:a", "."}, want: func(c *cli) string { return c.Pull.RetryFor }, expect: ""},
		{name: "string flag from config", config: `connect-timeout = "3s"`, args: []string{"ls", "h"}, want: func(c *cli) string { return c.Ls.ConnectTimeout }, expect: "3s"},
		{name: "one key, every command", config: `idle-timeout = "1m"`, args: []string{"serve", "--root", "."}, want: func(c *cli) string { return c.Serve.IdleTimeout }, expect: "1m"},
		{name: "bool from config", config: `force = true`, args: []string{"push", "a", "h:"}, want: func(c *cli) string { return boolText(c.Push.Force) }, expect: "true"},
		{name: "bool flag beats config", config: `force = false`, args: []string{"push", "-f", "a", "h:"}, want: func(c *cli) string { return boolText(c.Push.Force) }, expect: "true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"QXFER_PARALLEL", "QXFER_LOG_LEVEL", "QXFER_RETRY_FOR", "QXFER_CONNECT_TIMEOUT", "QXFER_IDLE_TIMEOUT"} {
				if v, ok := tt.env[k]; ok {
					t.Setenv(k, v)
				} else {
					unsetenv(t, k)
				}
			}
			dir := t.TempDir()
			load := &configLoad{path: filepath.Join(dir, configFile)}
			if tt.config != "" {
				if err := os.WriteFile(load.path, []byte(tt.config+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var c cli
			parser, err := newParser(&c, io.Discard, io.Discard, load.option())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := parser.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if got := tt.want(&c); got != tt.expect {
				t.Errorf("got %q, want %q", got, tt.expect)
			}
		})
	}
}

func parallelOf(c *cli) string { return itoa(c.Push.Parallel) }

func itoa(n int) string { return strconv.Itoa(n) }

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// unsetenv removes k for the test and restores it afterwards.
func unsetenv(t *testing.T, k string) {
	t.Helper()
	t.Setenv(k, "") // registers the restore
	os.Unsetenv(k)
}

// TestConfigErrors runs qxfer in-process with bad config files: one error
// line naming the file (and line, or key), hints, exit status 2.
func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name   string
		config string
		args   []string
		want   []string // regexps on stderr; HOME is the home directory
	}{
		{name: "malformed", config: "parallel = 4\n[hosts.x\n", args: []string{"version"},
			want: []string{`^qxfer: HOME/config\.toml:2:\d+: `, `(?m)^hint: the file is TOML`}},
		{name: "unknown key", config: "paralel = 4\n", args: []string{"version"},
			want: []string{`^qxfer: HOME/config\.toml: paralel: unknown key\n`, `(?m)^hint: did you mean parallel\?$`, `(?m)^hint: top-level keys are long flag names`}},
		{name: "far from any flag", config: "frobnicate = 4\n", args: []string{"version"},
			want: []string{`^qxfer: HOME/config\.toml: frobnicate: unknown key\nhint: top-level keys are long flag names`}},
		{name: "underscore", config: "retry_for = \"1m\"\n", args: []string{"version"},
			want: []string{`^qxfer: HOME/config\.toml: retry_for: unknown key\n`, `(?m)^hint: did you mean retry-for\?$`}},
		{name: "home", config: "home = \"/x\"\n", args: []string{"version"},
			want: []string{`^qxfer: HOME/config\.toml: home: not allowed in the configuration file\n`}},
		{name: "fingerprint", config: "fingerprint = \"" + testFP + "\"\n", args: []string{"version"},
			want: []string{`: fingerprint: not allowed .*\n`, `(?m)^hint: .*\[hosts\.NAME\]`}},
		{name: "bad enum", config: "log-level = \"loud\"\n", args: []string{"version"},
			want: []string{`^qxfer: HOME/config\.toml: log-level: must be one of debug, info, warn, error, got "loud"\n`}},
		{name: "bad int", config: "parallel = \"many\"\n", args: []string{"version"},
			want: []string{`^qxfer: HOME/config\.toml: parallel: .*many`}},
		{name: "bad alias", config: "[hosts.a]\nport = 1\n", args: []string{"version"},
			want: []string{`^qxfer: HOME/config\.toml: hosts\.a: missing host\n`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			t.Setenv("QXFER_HOME", home)
			if err := os.WriteFile(filepath.Join(home, configFile), []byte(tt.config), 0o600); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			if code != exitUsage {
				t.Errorf("exit status %d, want %d", code, exitUsage)
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
			for _, w := range tt.want {
				re := regexp.MustCompile(strings.ReplaceAll(w, "HOME", regexp.QuoteMeta(home)))
				if !re.MatchString(stderr.String()) {
					t.Errorf("stderr does not match %q:\n%s", re, stderr.String())
				}
			}
		})
	}
}

// TestPreHome finds --home before kong parses.
func TestPreHome(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{name: "flag", args: []string{"--home", "/h", "ls", "x"}, env: map[string]string{"QXFER_HOME": "/e"}, want: "/h"},
		{name: "flag with =", args: []string{"ls", "--home=/h", "x"}, want: "/h"},
		{name: "relative flag", args: []string{"--home", "rel"}, want: abs("rel")},
		{name: "env", args: []string{"ls", "x"}, env: map[string]string{"QXFER_HOME": "/e", "HOME": "/u"}, want: "/e"},
		{name: "after --", args: []string{"push", "--", "--home", "/h"}, env: map[string]string{"HOME": "/u"}, want: "/u/.config/qxfer"},
		{name: "xdg", env: map[string]string{"XDG_CONFIG_HOME": "/x", "HOME": "/u"}, want: "/x/qxfer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := preHome(tt.args, env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if got != filepath.FromSlash(tt.want) && got != abs(tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzConfig checks that parseConfig never panics, that what it accepts
// validates against the real CLI without panicking, and that every alias
// it accepts reads back as a host when typed as NAME:PATH.
func FuzzConfig(f *testing.F) {
	// The seed corpus is in testdata/fuzz/FuzzConfig.
	parser, err := newParser(&cli{}, io.Discard, io.Discard)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Real config files are small, and the TOML parser takes
		// quadratic time in the depth of a dotted key (a.a.a...), which
		// would stall the fuzzer on inputs no one writes.
		if len(data) > 4<<10 {
			return
		}
		c, err := parseConfig("config.toml", bytes.NewReader(data))
		if err != nil {
			var ce *configError
			if !errors.As(err, &ce) {
				t.Fatalf("got %T (%v), want a *configError", err, err)
			}
			if strings.Contains(ce.Error(), "\n") {
				t.Errorf("error spans lines: %q", ce.Error())
			}
			return
		}
		_ = c.Validate(parser.Model)
		for name, a := range c.hosts {
			if a.Host == "" {
				t.Errorf("alias %q has no host", name)
			}
			if a.Port < 0 || a.Port > 65535 {
				t.Errorf("alias %q has port %d", name, a.Port)
			}
			r, err := parseRemote(name + ":dir")
			if err != nil {
				t.Errorf("alias %q cannot be typed: %v", name, err)
				continue
			}
			if r.Host != name {
				t.Errorf("alias %q reads back as host %q", name, r.Host)
			}
			got, _ := c.resolve(r)
			if got.Host != a.Host {
				t.Errorf("alias %q resolves to %q, want %q", name, got.Host, a.Host)
			}
		}
	})
}

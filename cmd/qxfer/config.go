package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/alecthomas/kong"

	"github.com/qxfer/qxfer/certs"
	"github.com/qxfer/qxfer/quicx"
)

// configFile is the name of the configuration file in the qxfer home
// directory: $QXFER_HOME/config.toml.
const configFile = "config.toml"

// hostsKey is the table of host aliases in the configuration file.
const hostsKey = "hosts"

// notInConfig are flags the configuration file may not set, with the
// reason given to the user.
var notInConfig = map[string]string{
	"home":        "config.toml is read from the home directory; use --home or QXFER_HOME",
	"fingerprint": "a fingerprint belongs to one server: set it in a [hosts.NAME] table",
	"help":        "help is not a setting",
}

// config is the content of config.toml: defaults for flags and host
// aliases. A nil *config (no file) has no defaults and no aliases.
//
// Precedence, highest first: a flag on the command line, its QXFER_*
// environment variable, the configuration file, the flag's default.
type config struct {
	path  string
	flags map[string]string    // top-level keys: long flag name -> value as text
	hosts map[string]hostAlias // [hosts.NAME] tables
}

// hostAlias is one [hosts.NAME] table.
type hostAlias struct {
	Host        string            // without brackets
	Port        int               // 0: not set
	Fingerprint certs.Fingerprint // zero: not pinned (known_hosts applies)
}

// configError is a problem with the configuration file. Kong reports
// usage errors with exit status 2, and so does qxfer for these.
type configError struct {
	path      string
	line, col int    // position of a syntax error; 0 if unknown
	key       string // the offending key, if any
	msg       string
	hints     []string
}

func (e *configError) Error() string {
	msg, key := oneLine.Replace(e.msg), oneLine.Replace(e.key)
	switch {
	case e.line > 0:
		return fmt.Sprintf("%s:%d:%d: %s", e.path, e.line, e.col, msg)
	case key != "":
		return fmt.Sprintf("%s: %s: %s", e.path, key, msg)
	}
	return fmt.Sprintf("%s: %s", e.path, msg)
}

// oneLine keeps an error on one line: the TOML parser quotes input that
// may hold line breaks.
var oneLine = strings.NewReplacer("\n", `\n`, "\r", `\r`)

// Hint says what to do.
func (e *configError) Hint() []string { return e.hints }

// ExitCode makes a bad configuration file a usage error.
func (e *configError) ExitCode() int { return exitUsage }

// parseConfig parses the content of a configuration file; path is used in
// errors. It checks the structure and the host aliases; flag values are
// checked against the command line model by Validate.
func parseConfig(path string, r io.Reader) (*config, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxConfigBytes+1))
	if err != nil {
		return nil, &configError{path: path, msg: err.Error()}
	}
	if len(data) > maxConfigBytes {
		return nil, &configError{path: path, msg: fmt.Sprintf("larger than %d bytes", maxConfigBytes)}
	}
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			line, col := position(data, pe.Position)
			return nil, &configError{path: path, line: line, col: col, msg: strings.TrimSuffix(firstLower(pe.Message), "."),
				hints: []string{"the file is TOML: key = value lines, and [hosts.NAME] tables; see README.md"}}
		}
		return nil, &configError{path: path, msg: err.Error()}
	}
	c := &config{path: path, flags: map[string]string{}, hosts: map[string]hostAlias{}}
	for _, k := range sortedKeys(raw) {
		v := raw[k]
		if k == hostsKey {
			if err := c.parseHosts(v); err != nil {
				return nil, err
			}
			continue
		}
		s, ok := scalarText(v)
		if !ok {
			return nil, &configError{path: path, key: keyName(k), msg: fmt.Sprintf("unknown table or bad value (%s)", tomlType(v)),
				hints: []string{"top-level keys are long flag names with a string, number or boolean value; host aliases go in [hosts.NAME] tables"}}
		}
		c.flags[k] = s
	}
	return c, nil
}

// maxConfigBytes bounds the configuration file: a few lines per alias
// fit thousands of aliases, and the TOML parser's time grows faster than
// linearly with the depth of dotted keys.
const maxConfigBytes = 64 << 10

// position is the 1-based line and column of a TOML parse error, counted
// from its byte offset (the parser's own line is one too far when the
// error is at a newline).
func position(data []byte, p toml.Position) (line, col int) {
	if p.Start < 0 || p.Start > len(data) {
		return max(p.Line, 1), max(p.Col, 1)
	}
	before := data[:p.Start]
	line = 1 + bytes.Count(before, []byte("\n"))
	col = p.Start - bytes.LastIndexByte(before, '\n')
	return line, col
}

// parseHosts reads the [hosts] table.
func (c *config) parseHosts(v any) error {
	tables, ok := v.(map[string]any)
	if !ok {
		return &configError{path: c.path, key: hostsKey, msg: fmt.Sprintf("want tables [hosts.NAME], got %s", tomlType(v))}
	}
	for _, name := range sortedKeys(tables) {
		key := keyName(hostsKey, name)
		t, ok := tables[name].(map[string]any)
		if !ok {
			return &configError{path: c.path, key: key, msg: fmt.Sprintf("want a table, got %s", tomlType(tables[name])),
				hints: []string{fmt.Sprintf("write [%s] with host = \"ADDRESS\", and optionally port and fingerprint", key)}}
		}
		if err := checkAliasName(name); err != nil {
			return &configError{path: c.path, key: key, msg: err.Error(),
				hints: []string{"an alias is typed where a host goes (NAME:PATH), so it cannot contain ':', brackets, slashes or spaces"}}
		}
		var a hostAlias
		for _, k := range sortedKeys(t) {
			fk := keyName(hostsKey, name, k)
			switch k {
			case "host":
				s, ok := t[k].(string)
				if !ok {
					return &configError{path: c.path, key: fk, msg: fmt.Sprintf("want a string, got %s", tomlType(t[k]))}
				}
				h, err := checkAliasHost(s)
				if err != nil {
					return &configError{path: c.path, key: fk, msg: err.Error()}
				}
				a.Host = h
			case "port":
				p, ok := t[k].(int64)
				if !ok || p < 1 || p > 65535 {
					return &configError{path: c.path, key: fk, msg: fmt.Sprintf("want a port number from 1 to 65535, got %s", tomlValue(t[k]))}
				}
				a.Port = int(p)
			case "fingerprint":
				s, ok := t[k].(string)
				if !ok {
					return &configError{path: c.path, key: fk, msg: fmt.Sprintf("want a string, got %s", tomlType(t[k]))}
				}
				fp, err := certs.ParseFingerprint(s)
				if err == nil && fp.IsZero() {
					err = fmt.Errorf("%w: the all-zero fingerprint", certs.ErrBadFingerprint)
				}
				if err != nil {
					return &configError{path: c.path, key: fk, msg: err.Error(),
						hints: []string{"use the server's fingerprint as printed by 'qxfer id' on the server"}}
				}
				a.Fingerprint = fp
			default:
				return &configError{path: c.path, key: fk, msg: "unknown key",
					hints: []string{"a host alias has host, port and fingerprint"}}
			}
		}
		if a.Host == "" {
			return &configError{path: c.path, key: key, msg: "missing host",
				hints: []string{fmt.Sprintf("add host = \"ADDRESS\" to [%s]", key)}}
		}
		c.hosts[name] = a
	}
	return nil
}

// checkAliasName accepts names that parseRemote reads back as a host.
func checkAliasName(name string) error {
	if name == "" {
		return errors.New("empty alias name")
	}
	if strings.ContainsAny(name, ":[]/\\") || strings.IndexFunc(name, isSpaceOrControl) >= 0 {
		return errors.New("bad alias name")
	}
	return nil
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

// checkAliasHost checks a host name or IP address (an IPv6 address with or
// without brackets) and returns it without brackets.
func checkAliasHost(s string) (string, error) {
	h := s
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
		if ip := net.ParseIP(h); ip == nil || !strings.Contains(h, ":") {
			return "", fmt.Errorf("%q is not an IPv6 address", s)
		}
		return h, nil
	}
	if net.ParseIP(h) != nil {
		return h, nil
	}
	if h == "" || strings.ContainsAny(h, ":[]/\\") || strings.IndexFunc(h, isSpaceOrControl) >= 0 {
		return "", fmt.Errorf("bad host %q (want a host name or an IP address, without a port)", s)
	}
	return h, nil
}

// alias returns the alias called name.
func (c *config) alias(name string) (hostAlias, bool) {
	if c == nil {
		return hostAlias{}, false
	}
	a, ok := c.hosts[name]
	return a, ok
}

// aliases returns the alias names, sorted.
func (c *config) aliases() []string {
	if c == nil {
		return nil
	}
	return sortedKeys(c.hosts)
}

// resolve replaces r's host by the address of the alias it names, if any,
// and returns the alias's pinned fingerprint (zero if none). The alias's
// port applies unless r names another port than the default.
func (c *config) resolve(r remote) (remote, certs.Fingerprint) {
	a, ok := c.alias(r.Host)
	if !ok {
		return r, certs.Fingerprint{}
	}
	r.Host = a.Host
	if a.Port != 0 && r.Port == quicx.DefaultPort {
		r.Port = a.Port
	}
	return r, a.Fingerprint
}

// Resolve implements kong.Resolver: the file's value for flag, unless the
// flag's environment variable is set (kong applies environment variables
// before resolvers, which would let the file override them). A value that
// does not parse is left to Validate, which reports it with the file name.
func (c *config) Resolve(_ *kong.Context, _ *kong.Path, flag *kong.Flag) (any, error) {
	s, ok := c.flags[flag.Name]
	if !ok || notInConfig[flag.Name] != "" {
		return nil, nil
	}
	for _, e := range flag.Envs {
		if _, set := os.LookupEnv(e); set {
			return nil, nil
		}
	}
	if checkFlagValue(flag, s) != nil {
		return nil, nil
	}
	return s, nil
}

// Validate implements kong.Resolver: every key names a flag of some command
// and its value suits every flag of that name.
func (c *config) Validate(app *kong.Application) error {
	flags := map[string][]*kong.Flag{}
	var walk func(n *kong.Node)
	walk = func(n *kong.Node) {
		for _, f := range n.Flags {
			flags[f.Name] = append(flags[f.Name], f)
		}
		for _, ch := range n.Children {
			walk(ch)
		}
	}
	walk(app.Node)
	for _, k := range sortedKeys(c.flags) {
		if why := notInConfig[k]; why != "" {
			return &configError{path: c.path, key: keyName(k), msg: "not allowed in the configuration file", hints: []string{why}}
		}
		fs := flags[k]
		if len(fs) == 0 {
			hints := []string{"top-level keys are long flag names (see 'qxfer COMMAND --help'); host aliases go in [hosts.NAME] tables"}
			if alt := closestFlag(k, flags); alt != "" {
				hints = append([]string{fmt.Sprintf("did you mean %s?", alt)}, hints...)
			}
			return &configError{path: c.path, key: keyName(k), msg: "unknown key", hints: hints}
		}
		for _, f := range fs {
			if err := checkFlagValue(f, c.flags[k]); err != nil {
				return &configError{path: c.path, key: keyName(k), msg: err.Error()}
			}
		}
	}
	return nil
}

// checkFlagValue reports whether s is a valid value for flag, without
// setting anything.
func checkFlagValue(flag *kong.Flag, s string) error {
	target := reflect.New(flag.Target.Type()).Elem()
	scan := kong.ScanFromTokens(kong.Token{Type: kong.FlagValueToken, Value: s})
	if err := flag.Mapper.Decode(&kong.DecodeContext{Value: flag.Value, Scan: scan}, target); err != nil {
		return err
	}
	if flag.Enum != "" && !flag.EnumMap()[s] {
		return fmt.Errorf("must be one of %s, got %q", strings.Join(flag.EnumSlice(), ", "), s)
	}
	return nil
}

// configLoad reads the configuration file through kong.Configuration and
// keeps what it found for the commands.
type configLoad struct {
	path string
	cfg  *config // nil until loaded, and if there is no file
	err  error   // the loader's own error: kong flattens it to text
}

func (l *configLoad) option() kong.Option { return kong.Configuration(l.load, l.path) }

func (l *configLoad) load(r io.Reader) (kong.Resolver, error) {
	cfg, err := parseConfig(l.path, r)
	if err != nil {
		l.err = err
		return nil, err
	}
	l.cfg = cfg
	return cfg, nil
}

// preHome finds the home directory before kong parses the command line, so
// that the configuration file in it can supply defaults: --home DIR or
// --home=DIR in args (before a "--"), else what certs.Home says.
func preHome(args []string, getenv func(string) string) (string, error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if v, ok := strings.CutPrefix(a, "--home="); ok {
			return filepath.Abs(v)
		}
		if a == "--home" && i+1 < len(args) {
			return filepath.Abs(args[i+1])
		}
	}
	h, err := certs.Home(getenv)
	if err != nil {
		return "", err
	}
	return filepath.Abs(h)
}

// readConfigFile parses the configuration file in home, for the
// completion scripts: a missing or broken file gives nil.
func readConfigFile(home string) *config {
	path := filepath.Join(home, configFile)
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	cfg, err := parseConfig(path, f)
	if err != nil {
		return nil
	}
	return cfg
}

// scalarText converts a TOML string, integer, float or boolean to the text
// kong parses; other values are not flag values.
func scalarText(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case int64:
		return strconv.FormatInt(v, 10), true
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

// tomlType names the TOML type of a decoded value, for error messages.
func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case map[string]any:
		return "a table"
	case []map[string]any:
		return "an array of tables"
	case []any:
		return "an array"
	}
	return "a date or time"
}

// tomlValue shows a decoded value, for error messages.
func tomlValue(v any) string {
	if s, ok := scalarText(v); ok {
		if _, str := v.(string); str {
			return strconv.Quote(s)
		}
		return s
	}
	return tomlType(v)
}

// keyName spells a dotted key as TOML would, quoting parts as needed.
func keyName(parts ...string) string { return toml.Key(parts).String() }

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// closestFlag is the flag name a mistyped configuration key k most likely
// meant, as kong suggests for a mistyped flag: the key with "_" written
// "-", else the name within edit distance 2 (one third of k's length for
// short keys) that is nearest, the first in order on a tie; "" if none.
func closestFlag(k string, flags map[string][]*kong.Flag) string {
	if alt := strings.ReplaceAll(k, "_", "-"); alt != k && len(flags[alt]) > 0 {
		return alt
	}
	limit := min(2, max(1, len(k)/3))
	best, bestD := "", limit+1
	for _, name := range sortedKeys(flags) {
		if d := editDistance(k, name); d < bestD {
			best, bestD = name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/qxfer/qxfer/session"
)

type versionCmd struct{}

// Run prints the versions: one line, or with --json one versionObject.
func (versionCmd) Run(e *env) error {
	v := buildVersion()
	if e.json {
		return writeJSON(e, v)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "qxfer %s (protocol %s, quic-go %s, %s", v.Version, v.Protocol, v.QuicGo, v.Go)
	if v.Revision != "" {
		fmt.Fprintf(&b, ", revision %s", v.Revision)
		if v.Time != "" {
			fmt.Fprintf(&b, " of %s", v.Time)
		}
		if v.Modified {
			b.WriteString(", modified")
		}
	}
	b.WriteString(")")
	fmt.Fprintln(e.stdout, b.String())
	return nil
}

// buildVersion reads the versions from the binary's build information
// (runtime/debug.ReadBuildInfo): the main module's version ("(devel)"
// when built inside its own checkout without a tag), the VCS revision,
// time and modified flag that go build stamps (-buildvcs), and quic-go's
// version from the dependency list.
func buildVersion() versionObject {
	v := versionObject{V: jsonVersion, Version: "(devel)", Protocol: session.ALPN, QuicGo: "unknown", Go: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	for _, d := range bi.Deps {
		if d.Path == "github.com/quic-go/quic-go" {
			v.QuicGo = d.Version
		}
	}
	return v
}

// version is what the client sends in its hello: the module version, or
// the first 12 digits of the VCS revision when that is all there is.
func version() string {
	v := buildVersion()
	if v.Version == "(devel)" && v.Revision != "" {
		return v.Revision[:min(12, len(v.Revision))]
	}
	return v.Version
}

// writeJSON writes v as one line of JSON on stdout (HTML characters
// unescaped, like the event stream).
func writeJSON(e *env, v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

package main

import (
	"fmt"
	"time"

	"github.com/qxfer/qxfer/session"
)

// The --json objects of the commands that are not transfers: one object
// per line on stdout, each with "v" (jsonVersion). README.md, "Machine-
// readable output", documents them.

// lsEntry is one line of "qxfer --json ls": an entry of the listing,
// with its exact name (JSON escapes control characters; nothing else is
// changed).
type lsEntry struct {
	V     int    `json:"v"`
	Name  string `json:"name"`
	Type  string `json:"type"`  // file, dir, symlink or other
	Mode  string `json:"mode"`  // permission bits in octal, "0644"
	Size  int64  `json:"size"`  // bytes
	MTime string `json:"mtime"` // RFC 3339, UTC, nanoseconds
}

func lsEntryOf(en session.Entry) lsEntry {
	typ := "file"
	switch en.Kind {
	case session.KindDir:
		typ = "dir"
	case session.KindSymlink:
		typ = "symlink"
	case session.KindOther:
		typ = "other"
	}
	return lsEntry{V: jsonVersion, Name: en.Name, Type: typ, Mode: fmt.Sprintf("%04o", uint32(en.Mode.Perm())), Size: en.Size, MTime: en.MTime.UTC().Format(time.RFC3339Nano)}
}

// idObject is "qxfer --json id".
type idObject struct {
	V           int    `json:"v"`
	Fingerprint string `json:"fingerprint"`
}

// versionObject is "qxfer --json version".
type versionObject struct {
	V        int    `json:"v"`
	Version  string `json:"version"`            // module version, or "(devel)"
	Revision string `json:"revision,omitempty"` // VCS revision, when built from a checkout
	Time     string `json:"time,omitempty"`     // VCS commit time
	Modified bool   `json:"modified,omitempty"` // built from a tree with uncommitted changes
	Protocol string `json:"protocol"`           // ALPN, "qxfer/3"
	QuicGo   string `json:"quic_go"`
	Go       string `json:"go"`
}

// doctorCheck is one line of "qxfer --json doctor".
type doctorCheck struct {
	V      int      `json:"v"`
	Check  string   `json:"check"`  // "udp buffers", "answers"...
	Status string   `json:"status"` // ok, warn, fail or skip
	Detail string   `json:"detail"`
	Hints  []string `json:"hints,omitempty"`
}

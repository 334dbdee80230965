package main

// The jsonlines script command checks the --json event stream.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func init() { scriptCmds["jsonlines"] = cmdJSONLines }

// cmdJSONLines implements "jsonlines FILE EVENT[,KEY=VALUE...]...": every
// line of FILE ("stdout" and "stderr" are the last command's output) is a
// JSON object with "v": 1 and an "event", and the listed events occur in
// this order (others may come between them). KEY=VALUE pairs narrow an
// event down to those whose field KEY has VALUE: strings as they are,
// numbers and booleans as written in the JSON (exit_code=1, dir=push).
func cmdJSONLines(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: jsonlines FILE EVENT[,KEY=VALUE...]...")
	}
	text := ts.ReadFile(args[0])
	if strings.TrimSpace(text) == "" {
		ts.Fatalf("%s: no JSON events", args[0])
	}
	var events []map[string]any
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		var ev map[string]any
		if err := dec.Decode(&ev); err != nil || dec.More() {
			ts.Fatalf("%s line %d is not one JSON object (%v): %q", args[0], i+1, err, line)
		}
		if v := fmt.Sprint(ev["v"]); v != "1" {
			ts.Fatalf("%s line %d: got \"v\": %s, want 1: %q", args[0], i+1, v, line)
		}
		if _, ok := ev["event"].(string); !ok {
			ts.Fatalf("%s line %d: no \"event\" string: %q", args[0], i+1, line)
		}
		events = append(events, ev)
	}
	next := 0
	for _, want := range args[1:] {
		name, fields, err := parseEventPattern(want)
		if err != nil {
			ts.Fatalf("jsonlines: %v", err)
		}
		found := false
		for ; next < len(events); next++ {
			if matchEvent(events[next], name, fields) {
				found = true
				next++
				break
			}
		}
		if !found {
			ts.Fatalf("%s: no event %s after the ones matched before it; events:\n%s", args[0], want, eventNames(events))
		}
	}
}

// parseEventPattern splits "name,key=value,..." into the event name and
// the required fields.
func parseEventPattern(p string) (string, map[string]string, error) {
	parts := strings.Split(p, ",")
	fields := map[string]string{}
	for _, kv := range parts[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return "", nil, fmt.Errorf("bad field %q in %q, want KEY=VALUE", kv, p)
		}
		fields[k] = v
	}
	return parts[0], fields, nil
}

func matchEvent(ev map[string]any, name string, fields map[string]string) bool {
	if ev["event"] != name {
		return false
	}
	for k, want := range fields {
		got, ok := ev[k]
		if !ok || fmt.Sprint(got) != want {
			return false
		}
	}
	return true
}

// eventNames lists the events one per line with their fields, for
// failure messages.
func eventNames(events []map[string]any) string {
	var b bytes.Buffer
	for _, ev := range events {
		line, _ := json.Marshal(ev)
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// TestJSONLinesFails checks that jsonlines fails, and says why, when the
// stream is not what the script wants.
func TestJSONLinesFails(t *testing.T) {
	const stream = `{"v":1,"event":"start","files":2}
{"v":1,"event":"file_done","path":"a"}
{"v":1,"event":"summary","exit_code":0}
`
	tests := []struct {
		name   string
		script string
		want   string // regexp the failure log must match
	}{
		{
			name:   "wrong order",
			script: "jsonlines s.json summary start\n",
			want:   `no event start after the ones matched before it`,
		},
		{
			name:   "missing event",
			script: "jsonlines s.json start file_failed\n",
			want:   `no event file_failed after`,
		},
		{
			name:   "field differs",
			script: "jsonlines s.json summary,exit_code=1\n",
			want:   `no event summary,exit_code=1 after`,
		},
		{
			name:   "not JSON",
			script: "jsonlines bad.json start\n",
			want:   `bad\.json line 2 is not one JSON object`,
		},
		{
			name:   "wrong version",
			script: "jsonlines v2.json start\n",
			want:   `v2\.json line 1: got "v": 2, want 1`,
		},
		{
			name:   "empty",
			script: "jsonlines empty.json start\n",
			want:   `empty\.json: no JSON events`,
		},
	}
	files := "-- s.json --\n" + stream +
		"-- bad.json --\n{\"v\":1,\"event\":\"start\"}\nnot json\n" +
		"-- v2.json --\n{\"v\":2,\"event\":\"start\"}\n" +
		"-- empty.json --\n"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			failed, log := recordScript(t, tt.script+files)
			checkFailed(t, failed, log, tt.want)
		})
	}

	t.Run("passes", func(t *testing.T) {
		failed, log := recordScript(t, "jsonlines s.json start,files=2 summary,exit_code=0\njsonlines s.json file_done,path=a\n"+files)
		if failed {
			t.Fatalf("script failed, want it to pass; log:\n%s", log)
		}
	})
}

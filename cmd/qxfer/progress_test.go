package main

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qxfer/qxfer/session"
)

// TestJSONViewProgress feeds the JSON view polls 150 ms apart and checks
// that a file gets at most one progress event per 500 ms, none while its
// count stands still, and a last one with its final count when it ends.
func TestJSONViewProgress(t *testing.T) {
	var out bytes.Buffer
	v := &jsonView{s: newJSONStream(&out), cmd: "push", host: "h", last: map[uint64]jsonMark{}}
	file := session.TransferInfo{ID: 7, Dir: session.Push, Path: "up/f", Local: "f", Size: 1000, State: session.Running}
	v.plan([]session.TransferInfo{file})
	start := time.Unix(1000, 0)
	counts := []int64{0, 100, 200, 300, 400, 400, 400, 400, 400, 500} // one per poll
	for i, n := range counts {
		f := file
		f.Bytes = n
		v.update([]session.TransferInfo{f}, start.Add(time.Duration(i)*pollEvery))
	}
	end := file
	end.Bytes, end.State = 1000, session.Done
	v.ended(end)

	type event struct {
		Event string `json:"event"`
		Bytes int64  `json:"bytes"`
		Time  string `json:"time"`
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var ev event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("bad line %q: %v", line, err)
		}
		s := ev.Event
		if ev.Event == evProgress || ev.Event == evFileDone {
			s += ":" + strconv.FormatInt(ev.Bytes, 10)
		}
		got = append(got, s)
	}
	// Polls at 0, 150, ..., 1350 ms: events at 0 ms (0 bytes), 600 ms
	// (400), then nothing new until 1350 ms (500), then the end.
	want := []string{"start", "progress:0", "progress:400", "progress:500", "progress:1000", "file_done:1000"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("got events %v, want %v", got, want)
	}
}

func TestMeter(t *testing.T) {
	start := time.Unix(1000, 0)
	m := newMeter(start, 100)
	if r := m.rate(); r != 0 {
		t.Fatalf("one sample: got rate %v, want 0", r)
	}
	for i := 1; i <= 40; i++ { // 1 MiB/s for 6 s, sampled every 150 ms
		m.add(start.Add(time.Duration(i)*pollEvery), 100+int64(i)*(1<<20)*int64(pollEvery)/int64(time.Second))
	}
	if r := m.rate(); r < 0.99*(1<<20) || r > 1.01*(1<<20) {
		t.Fatalf("got rate %.0f, want about %d", r, 1<<20)
	}
	if n := len(m.samples); n > int(rateWindow/pollEvery)+2 {
		t.Fatalf("got %d samples kept, want at most %d", n, int(rateWindow/pollEvery)+2)
	}
	// Stalled for the whole window: the rate falls to zero.
	last := m.samples[len(m.samples)-1]
	for i := 1; i <= 25; i++ {
		m.add(last.at.Add(time.Duration(i)*pollEvery), last.bytes)
	}
	if r := m.rate(); r != 0 {
		t.Fatalf("stalled: got rate %v, want 0", r)
	}
}

func TestShorten(t *testing.T) {
	tests := []struct {
		name, in string
		n        int
		want     string
	}{
		{name: "fits", in: "a/b.txt", n: 10, want: "a/b.txt"},
		{name: "exact", in: "0123456789", n: 10, want: "0123456789"},
		{name: "keeps the end", in: "dir/sub/file.txt", n: 9, want: "…file.txt"},
		{name: "wide runes", in: "日本語/名前.txt", n: 10, want: "…/名前.txt"}, // 名 and 前 take two columns
		{name: "wide rune cut in half", in: "日本語/名前.txt", n: 8, want: "… 前.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := shorten(tt.in, tt.n); got != tt.want {
				t.Fatalf("shorten(%q, %d): got %q, want %q", tt.in, tt.n, got, tt.want)
			}
		})
	}
}

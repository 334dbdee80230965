package main

import (
	"errors"
	"testing"
	"time"

	"github.com/qxfer/qxfer/session"
)

// TestJobState checks the state jobs shows for a put or get: queued until
// its bytes move, running after, then the outcome of its files and of
// the command itself. (The scripts show jobs from a real session; this
// shows each state, which timing alone does not pin down there.)
func TestJobState(t *testing.T) {
	file := func(id uint64, s session.State, bytes int64) session.TransferInfo {
		return session.TransferInfo{ID: id, Dir: session.Push, State: s, Bytes: bytes, Size: 100}
	}
	tests := []struct {
		name      string
		files     []session.TransferInfo
		live      []session.TransferInfo // the transfer table now
		ended     bool
		err       error
		cancelled bool
		want      string
		wantBytes int64
	}{
		{name: "just read", want: "queued"},
		{name: "started, no byte yet", files: []session.TransferInfo{file(1, session.Running, 0)}, live: []session.TransferInfo{file(1, session.Running, 0)}, want: "queued"},
		{name: "bytes move", files: []session.TransferInfo{file(1, session.Running, 0)}, live: []session.TransferInfo{file(1, session.Running, 40)}, want: "running", wantBytes: 40},
		{name: "one file done, the next queued", files: []session.TransferInfo{file(1, session.Done, 0), file(2, session.Queued, 0)}, want: "running"},
		{name: "done", files: []session.TransferInfo{file(1, session.Done, 100), file(2, session.Done, 100)}, ended: true, want: "done", wantBytes: 200},
		{name: "up to date", files: []session.TransferInfo{file(1, session.Skipped, 0)}, ended: true, want: "skipped"},
		{name: "one file failed", files: []session.TransferInfo{file(1, session.Done, 100), file(2, session.Failed, 3)}, ended: true, want: "failed", wantBytes: 103},
		{name: "command failed", ended: true, err: errors.New("no such file"), want: "failed"},
		{name: "cancelled", files: []session.TransferInfo{file(1, session.Cancelled, 30)}, ended: true, cancelled: true, want: "cancelled", wantBytes: 30},
		{name: "ended snapshot wins over a stale live one", files: []session.TransferInfo{file(1, session.Done, 100)}, live: []session.TransferInfo{file(1, session.Running, 50)}, ended: true, want: "done", wantBytes: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := &job{id: 1, dir: session.Push, name: "x", start: time.Now().Add(-time.Second), files: map[uint64]session.TransferInfo{}}
			for _, f := range tt.files {
				j.files[f.ID] = f
			}
			j.ended, j.err, j.cancelled, j.end = tt.ended, tt.err, tt.cancelled, time.Now()
			live := map[uint64]session.TransferInfo{}
			for _, f := range tt.live {
				live[f.ID] = f
			}
			r := j.row(live)
			if r.state != tt.want || r.bytes != tt.wantBytes {
				t.Errorf("got state %q, %d bytes; want %q, %d bytes", r.state, r.bytes, tt.want, tt.wantBytes)
			}
		})
	}
}

func TestCompletionHelpers(t *testing.T) {
	for _, tt := range []struct {
		line string
		want int
	}{
		{"get ", 4},
		{"get a", 4},
		{`get my\ fi`, 4},
		{`get "my fi`, 4},
		{`put x 'a b`, 6},
		{"", 0},
	} {
		if got := wordStart(tt.line); got != tt.want {
			t.Errorf("wordStart(%q) = %d, want %d", tt.line, got, tt.want)
		}
	}
	if got := commonPrefix([]string{"data1", "data2", "dat"}); got != "dat" {
		t.Errorf("commonPrefix = %q, want %q", got, "dat")
	}
	if got := commonPrefix([]string{"é1", "è1"}); got != "" {
		t.Errorf("commonPrefix of two accents = %q, want no half character", got)
	}
	if got := escapeWord(`my file*[1].txt`); got != `my\ file\*\[1\].txt` {
		t.Errorf("escapeWord = %q", got)
	}
}

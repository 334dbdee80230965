package main

import (
	"encoding/json"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/qxfer/qxfer/session"
)

// jsonVersion is the "v" of every JSON event. README.md, "Machine-readable
// output", documents the schema; a change that is not backwards
// compatible (renamed or removed fields, changed meaning) bumps it.
const jsonVersion = 1

// JSON event names.
const (
	evStart       = "start"
	evProgress    = "progress"
	evFileDone    = "file_done"
	evFileFailed  = "file_failed"
	evReconnect   = "reconnect"
	evReconnected = "reconnected"
	evMigrate     = "migrate"
	evSummary     = "summary"
)

// jsonHead starts every JSON event.
type jsonHead struct {
	V     int    `json:"v"`
	Event string `json:"event"`
	Time  string `json:"time"` // RFC 3339, UTC, milliseconds
}

func head(event string, now time.Time) jsonHead {
	return jsonHead{V: jsonVersion, Event: event, Time: now.UTC().Format("2006-01-02T15:04:05.000Z07:00")}
}

// startEvent: the batch's files are known; none has started.
type startEvent struct {
	jsonHead
	Command string `json:"command"` // push or pull
	Host    string `json:"host"`
	Files   int    `json:"files"`
	Bytes   int64  `json:"bytes"` // sum of the file sizes
	// More says the batch is streamed from a tree walk that goes on:
	// Files and Bytes are what it had found (the summary has the totals).
	More bool `json:"more,omitempty"`
}

// fileRef names a file in file events.
type fileRef struct {
	ID    uint64 `json:"id"`
	Path  string `json:"path"`  // remote, relative to the server root
	Local string `json:"local"` // local path
	Dir   string `json:"dir"`   // push or pull
}

func refOf(ti session.TransferInfo) fileRef {
	return fileRef{ID: ti.ID, Path: ti.Path, Local: ti.Local, Dir: ti.Dir.String()}
}

// progressEvent: bytes moved so far by one running file.
type progressEvent struct {
	jsonHead
	fileRef
	Bytes int64 `json:"bytes"`
	Size  int64 `json:"size"`
}

// fileDoneEvent: a file arrived (done) or was already there (skipped).
type fileDoneEvent struct {
	jsonHead
	fileRef
	Bytes      int64  `json:"bytes"`
	Size       int64  `json:"size"`
	State      string `json:"state"`
	DurationMS int64  `json:"duration_ms"`
}

// fileFailedEvent: a file did not arrive.
type fileFailedEvent struct {
	jsonHead
	fileRef
	Bytes      int64  `json:"bytes"`
	Size       int64  `json:"size"`
	State      string `json:"state"`   // failed or cancelled
	Code       string `json:"code"`    // wire error code name, e.g. not_found
	Message    string `json:"message"` // human description
	DurationMS int64  `json:"duration_ms"`
}

// reconnectEvent: the connection died; dialing again.
type reconnectEvent struct {
	jsonHead
	Attempt int    `json:"attempt"`
	Error   string `json:"error"`
}

// reconnectedEvent: a new connection is up; unfinished files resume.
type reconnectedEvent struct {
	jsonHead
	AfterMS int64 `json:"after_ms"`
}

// migrateEvent: the local network changed; the connection moved to the
// new path (no error) or could not (error, a reconnect follows).
type migrateEvent struct {
	jsonHead
	Detail string `json:"detail"`
	Error  string `json:"error,omitempty"`
}

// summaryEvent: the last event of a push or pull.
type summaryEvent struct {
	jsonHead
	Command      string  `json:"command"`
	Files        int     `json:"files"`
	Done         int     `json:"done"`
	Skipped      int     `json:"skipped"`
	Failed       int     `json:"failed"`
	Cancelled    int     `json:"cancelled"`
	Bytes        int64   `json:"bytes"`
	PartialBytes int64   `json:"partial_bytes"` // of bytes, those moved by files that did not finish (kept to resume)
	DurationMS   int64   `json:"duration_ms"`
	GoodputBPS   int64   `json:"goodput_bps"` // file bytes per second
	RTTMS        float64 `json:"rtt_ms"`
	PacketsSent  uint64  `json:"packets_sent"`
	PacketsLost  uint64  `json:"packets_lost"`
	BytesLost    uint64  `json:"bytes_lost"`
	Migrations   int     `json:"migrations"`
	Reconnects   int     `json:"reconnects"`
	Connections  int     `json:"connections"` // most connections striped over at once
	ExitCode     int     `json:"exit_code"`
	Error        string  `json:"error,omitempty"`   // why the batch could not run, or which files failed
	DryRun       bool    `json:"dry_run,omitempty"` // -n: nothing was changed; the action events list what would be
	Deleted      int     `json:"deleted,omitempty"` // --delete: entries deleted (each has a deleted event)
}

// jsonStream writes one JSON event per line.
type jsonStream struct {
	// mu guards the following field: events from several goroutines
	// never interleave.
	mu  sync.Mutex
	enc *json.Encoder
}

func newJSONStream(w io.Writer) *jsonStream {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &jsonStream{enc: enc}
}

func (s *jsonStream) emit(ev any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.enc.Encode(ev) // stdout gone: nothing better to do
}

// connEvent writes a connection event.
func (s *jsonStream) connEvent(ev session.Event) {
	now := time.Now()
	switch ev.Kind {
	case session.EventReconnecting:
		s.emit(reconnectEvent{jsonHead: head(evReconnect, now), Attempt: ev.Attempt, Error: errText(ev.Err)})
	case session.EventReconnected:
		s.emit(reconnectedEvent{jsonHead: head(evReconnected, now), AfterMS: ev.Delay.Milliseconds()})
	case session.EventMigrated:
		s.emit(migrateEvent{jsonHead: head(evMigrate, now), Detail: ev.Detail})
	case session.EventMigrationFailed:
		s.emit(migrateEvent{jsonHead: head(evMigrate, now), Detail: ev.Detail, Error: errText(ev.Err)})
	}
}

// fileEnded writes file_done or file_failed.
func (s *jsonStream) fileEnded(ti session.TransferInfo) {
	now := time.Now()
	switch ti.State {
	case session.Done, session.Skipped:
		s.emit(fileDoneEvent{
			jsonHead: head(evFileDone, now), fileRef: refOf(ti),
			Bytes: ti.Bytes, Size: ti.Size, State: ti.State.String(), DurationMS: ti.Duration.Milliseconds(),
		})
	default:
		code, msg := codeName(ti.Err), errText(ti.Err)
		if ti.Err == nil {
			code, msg = ti.State.String(), displayPath(ti)+": "+ti.State.String()
		}
		s.emit(fileFailedEvent{
			jsonHead: head(evFileFailed, now), fileRef: refOf(ti),
			Bytes: ti.Bytes, Size: ti.Size, State: ti.State.String(),
			Code: code, Message: msg, DurationMS: ti.Duration.Milliseconds(),
		})
	}
}

func (s *jsonStream) progress(ti session.TransferInfo, now time.Time) {
	s.emit(progressEvent{jsonHead: head(evProgress, now), fileRef: refOf(ti), Bytes: ti.Bytes, Size: ti.Size})
}

// summary writes the last event. rep is nil when the batch could not run.
func (s *jsonStream) summary(command string, rep *session.Report, st session.SessionStats, code int, err error) {
	ev := summaryEvent{
		jsonHead: head(evSummary, time.Now()), Command: command,
		RTTMS:       float64(st.SmoothedRTT.Microseconds()) / 1000,
		PacketsSent: st.PacketsSent, PacketsLost: st.PacketsLost, BytesLost: st.BytesLost,
		Migrations: st.Migrations, Reconnects: st.Reconnects, Connections: max(st.Connections, 1),
		ExitCode: code, Error: errText(err),
	}
	if rep != nil {
		ev.Files = rep.Len()
		ev.Done, ev.Skipped = rep.Count(session.Done), rep.Count(session.Skipped)
		ev.Failed, ev.Cancelled = rep.Count(session.Failed), rep.Count(session.Cancelled)
		ev.Bytes, ev.DurationMS = rep.Bytes(), rep.Duration.Milliseconds()
		ev.PartialBytes = rep.PartialBytes()
		ev.DryRun = rep.DryRun
		if !rep.DryRun {
			ev.Deleted = len(rep.Actions)
		}
		if secs := rep.Duration.Seconds(); secs > 0 {
			ev.GoodputBPS = int64(float64(rep.Bytes()) / secs)
		}
	}
	s.emit(ev)
}

// codeName is the wire code name of a file's error, such as "not_found".
func codeName(err error) string {
	var se *session.Error
	if errors.As(err, &se) {
		return se.Code.String()
	}
	return session.CodeIOError.String()
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return errMessage(err)
}

package session

import (
	"github.com/qxfer/qxfer/session/internal/wire"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// transferStarted counts a transfer the session has accepted.
func (ss *serverSession) transferStarted(t *Transfer) {
	ss.srv.metrics.started.WithLabelValues(t.Dir.String(), ss.label).Inc()
}

// transferEnded writes the access log line of an ended transfer and
// counts it in the metrics. resumed is how many bytes of the file the
// receiver held from an earlier attempt; err is nil for success.
//
// The access log line (ServerConfig.AccessLog, level info, message
// "transfer") has the fields: time, client (the label), fingerprint,
// remote (address:port), direction (push, pull), path (relative to the
// root), size, bytes (moved by this transfer), resumed, duration_ms, code
// (no_error, up_to_date or the error code) and, on failure, error.
// README.md, "Running a server", documents it; keep the two in step.
func (ss *serverSession) transferEnded(t *Transfer, resumed uint64, err error) {
	code := CodeOK
	var msg string
	if err != nil {
		e := xfer.AsError(err, t.Path)
		code, msg = e.Code, e.Msg
	}
	info := t.Info()
	dir := info.Dir.String()
	m := ss.srv.metrics
	m.ended.WithLabelValues(dir, code.String(), ss.label).Inc()
	m.bytes.WithLabelValues(dir, ss.label).Add(float64(info.Bytes))
	m.resumed.WithLabelValues(dir, ss.label).Add(float64(resumed))
	m.duration.WithLabelValues(dir).Observe(info.Duration.Seconds())
	ev := ss.srv.cfg.AccessLog.Info().
		Str("client", ss.label).Str("fingerprint", ss.owner).
		Str("remote", ss.conn.RemoteAddr().String()).
		Str("direction", dir).Str("path", t.Path).
		Int64("size", info.Size).Int64("bytes", info.Bytes).Uint64("resumed", resumed).
		Int64("duration_ms", info.Duration.Milliseconds()).
		Stringer("code", code)
	if msg != "" {
		ev = ev.Str("error", msg)
	}
	ev.Msg("transfer")
}

// haveBytes is how many bytes ranges cover.
func haveBytes(rs []wire.Range) uint64 {
	var n uint64
	for _, r := range rs {
		n += r.Length
	}
	return n
}

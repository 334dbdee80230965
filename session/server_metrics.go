package session

import (
	"math"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// serverMetrics are a Server's Prometheus metrics, in a registry of its
// own (several servers in one process, as in the tests, never share
// one). README.md, "Running a server", lists them; keep the two in step.
// Names follow the Prometheus conventions: a qxfer_ prefix, base units
// (bytes, seconds), _total on counters.
type serverMetrics struct {
	reg *prometheus.Registry

	sessionsOpen   prometheus.Gauge
	poolConnsOpen  prometheus.Gauge
	sessions       *prometheus.CounterVec   // client
	handshakeFails *prometheus.CounterVec   // cause
	started        *prometheus.CounterVec   // direction, client
	ended          *prometheus.CounterVec   // direction, code, client
	bytes          *prometheus.CounterVec   // direction, client
	resumed        *prometheus.CounterVec   // direction, client
	duration       *prometheus.HistogramVec // direction
	refused        *prometheus.CounterVec   // code, client
	requests       *prometheus.CounterVec   // type
	swept          prometheus.Counter
}

// Handshake failure causes, the values of qxfer_handshake_failures_total's
// cause label.
const (
	// FailUnauthorized: a certificate not in authorized_clients.
	FailUnauthorized = "unauthorized"
	failVersion      = "version_mismatch" // a client speaking another protocol version
	failHello        = "bad_hello"        // no command stream, or no hello on it in time
	failLimit        = "max_connections"  // MaxConnections sessions already running
	failShutdown     = "shutting_down"    // the server is draining (Server.Shutdown)
)

func newServerMetrics(s *Server) *serverMetrics {
	m := &serverMetrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.sessionsOpen = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "qxfer_sessions_open", Help: "Client sessions running now (one per primary connection).",
	})
	m.poolConnsOpen = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "qxfer_pool_connections_open", Help: "Extra pool connections joined to running sessions.",
	})
	f(m.sessionsOpen)
	f(m.poolConnsOpen)
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "qxfer_connections_open", Help: "QUIC connections served now: sessions and their pool connections.",
	}, func() float64 { return float64(s.live.Load()) }))
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "qxfer_root_free_bytes", Help: "Bytes free for the server on the file system of its root (NaN when the system cannot tell).",
	}, func() float64 {
		n, err := s.freeSpace()
		if err != nil {
			return math.NaN()
		}
		return float64(n)
	}))
	m.sessions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "qxfer_sessions_total", Help: "Sessions started (hello accepted), by client.",
	}, []string{"client"})
	m.handshakeFails = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "qxfer_handshake_failures_total",
		Help: "Connections refused before a session started, by cause: unauthorized, version_mismatch, bad_hello, max_connections, shutting_down.",
	}, []string{"cause"})
	m.started = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "qxfer_transfers_started_total", Help: "Transfers accepted, by direction (push, pull) and client.",
	}, []string{"direction", "client"})
	m.ended = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "qxfer_transfers_ended_total",
		Help: "Transfers ended, by direction, result code (no_error for success, up_to_date for a push skipped as identical, else the error code) and client.",
	}, []string{"direction", "code", "client"})
	m.bytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "qxfer_transfer_bytes_total", Help: "File bytes moved by ended transfers (resumed bytes not included), by direction and client.",
	}, []string{"direction", "client"})
	m.resumed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "qxfer_transfer_resumed_bytes_total", Help: "File bytes ended transfers did not move because the receiver held them from an earlier attempt, by direction and client.",
	}, []string{"direction", "client"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "qxfer_transfer_duration_seconds", Help: "Duration of ended transfers, by direction.",
		Buckets: prometheus.ExponentialBuckets(0.01, 4, 10), // 10 ms to 44 min
	}, []string{"direction"})
	m.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "qxfer_requests_refused_total", Help: "Requests (push, pull, list, stat, mkdir) refused before a transfer started, by error code and client.",
	}, []string{"code", "client"})
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "qxfer_requests_total",
		Help: "Requests received on command channels, by frame type (put, get, list, list_packed, stat, mkdir, dir_meta, checksum...), answered or refused.",
	}, []string{"type"})
	m.swept = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "qxfer_partials_swept_total", Help: "Abandoned partial files (a .part and its resume record) removed after --partial-ttl.",
	})
	for _, c := range []prometheus.Collector{m.sessions, m.handshakeFails, m.started, m.ended, m.bytes, m.resumed, m.duration, m.refused, m.requests, m.swept} {
		f(c)
	}
	for _, cause := range []string{FailUnauthorized, failVersion, failHello, failLimit, failShutdown} {
		m.handshakeFails.WithLabelValues(cause) // exported at 0 from the start
	}
	return m
}

// MetricsHandler serves the server's metrics in the Prometheus text
// format (and OpenMetrics when the scraper asks for it).
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{Registry: s.metrics.reg})
}

// CountHandshakeFailure counts a connection refused before its session
// started; the caller names the cause (FailUnauthorized when the
// certificate check of the TLS handshake, which runs before the Server
// sees the connection, refuses it).
func (s *Server) CountHandshakeFailure(cause string) {
	s.metrics.handshakeFails.WithLabelValues(cause).Inc()
}

func (m *serverMetrics) partialsSwept(n int) { m.swept.Add(float64(n)) }

// request counts msg in qxfer_requests_total if it opens a request (it
// carries a new request ID, PROTOCOL.md "Requests and IDs"); the frames
// of a running request (Seal, Ack, Cancel...) are not counted. Labelled by
// frame type only, so the series stay a few dozen whatever the clients.
func (m *serverMetrics) request(msg wire.Message) {
	switch msg.(type) {
	case *wire.Put, *wire.Get, *wire.List, *wire.ListPacked, *wire.Stat, *wire.Mkdir,
		*wire.DirMeta, *wire.Symlink, *wire.Readlink, *wire.Remove, *wire.Rename,
		*wire.Df, *wire.Checksum, *wire.Features:
		m.requests.WithLabelValues(msg.Type().String()).Inc()
	}
}

// shortFingerprintLen is how many characters of a fingerprint's
// canonical form ("SHA256:" and 43 base64 characters) clientLabel keeps
// when ServerConfig.ClientLabel gives no label: "SHA256:" and 8 of them,
// 48 bits, plenty to tell a server's clients apart.
const shortFingerprintLen = len("SHA256:") + 8

// clientLabel is the label of the client with certificate fingerprint
// fp (canonical form; "" for none) in metrics and the access log:
// ServerConfig.ClientLabel's answer if it has one, else the short form
// of the fingerprint.
func (s *Server) clientLabel(fp string) string {
	if s.cfg.ClientLabel != nil {
		if l := strings.TrimSpace(s.cfg.ClientLabel(fp)); l != "" {
			return l
		}
	}
	if fp == "" {
		return "unknown"
	}
	return fp[:min(len(fp), shortFingerprintLen)]
}

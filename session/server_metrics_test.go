package session

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/internal/udpproxy"
	"github.com/qxfer/qxfer/quicx"
	"github.com/qxfer/qxfer/session/internal/wire"
)

// scrape fetches srv's metrics over HTTP, as Prometheus would, and parses
// them with the Prometheus text parser.
func scrape(t testing.TB, srv *Server) map[string]*dto.MetricFamily {
	t.Helper()
	hs := httptest.NewServer(srv.MetricsHandler())
	defer hs.Close()
	resp, err := http.Get(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: got status %s, want 200", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse scrape: %v", err)
	}
	return fams
}

// sample is the value of one series of a family: a counter's or gauge's
// value, a histogram's sample count.
func sample(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

// valueIn sums the series of family name in fams whose labels include
// labels.
func valueIn(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
	var sum float64
series:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue series
			}
		}
		sum += sample(m)
	}
	return sum
}

// counterValue scrapes srv and returns valueIn for name and labels.
func counterValue(t testing.TB, srv *Server, name string, labels map[string]string) float64 {
	t.Helper()
	return valueIn(scrape(t, srv), name, labels)
}

// TestMetrics scrapes the endpoint after known pushes, a push found up to
// date, a pull, refusals, a cancelled push and a client of another
// protocol version, and checks the exact counts, labelled by client:
// the ClientLabel answer for one, the fingerprint's short form for the
// other.
func TestMetrics(t *testing.T) {
	alice, bob := newIdentity(t), newIdentity(t)
	bobLabel := bob.Fingerprint.String()[:shortFingerprintLen]
	ts := startServer(t, ServerConfig{ClientLabel: func(fp string) string {
		if fp == alice.Fingerprint.String() {
			return "alice"
		}
		return ""
	}}, nil)
	ctx := longCtx(t)

	// alice: two pushes of 1000 and 3000 bytes, the same two again (up
	// to date), a pull of 3000 bytes, a pull of a missing file.
	a := dialAs(t, ts, alice, ts.addr, quicx.Config{})
	src := t.TempDir()
	testutil.WriteRandom(t, filepath.Join(src, "one"), 1000)
	testutil.WriteRandom(t, filepath.Join(src, "three"), 3000)
	for range 2 {
		rep, err := a.Push(ctx, []string{filepath.Join(src, "one"), filepath.Join(src, "three")}, "in", Options{})
		if err != nil || len(rep.Files) != 2 {
			t.Fatalf("push: %v, %+v", err, rep)
		}
	}
	dl := t.TempDir()
	if fi := onlyFile(t, "pull", transferOf(Pull, dl, "in/three", Options{}), a); fi.State != Done {
		t.Fatalf("pull: %s (%v)", fi.State, fi.Err)
	}
	if rep, err := a.PullFile(ctx, "nosuch", filepath.Join(dl, "nosuch"), Options{}); err == nil && (len(rep.Files) != 1 || rep.Files[0].State == Done) {
		t.Fatalf("pull of a missing file: got %+v, want it refused", rep.Files)
	}

	// bob: a push cancelled in the middle, through a slow link.
	const bigSize = 32 << 20
	testutil.WriteRandom(t, filepath.Join(src, "big"), bigSize)
	link := throttledProxy(t, ts, udpproxy.Config{RateBits: resumeRate})
	b := dialAs(t, ts, bob, link.Addr().String(), quicx.Config{})
	res := pushAsync(ctx, b, []string{filepath.Join(src, "big")}, ".", Options{})
	testutil.Eventually(t, hangAfter, "1 MiB of big on the server", func() bool { return received(ts.srv.Transfers(), "big") >= 1<<20 })
	ci, ok := liveInfo(b.Transfers(), func(i TransferInfo) bool { return i.Path == "big" })
	if !ok || !b.Transfers().Cancel(ci.ID) {
		t.Fatal("cannot cancel the push of big")
	}
	if rep := waitPush(t, res, hangAfter); rep.Files[0].State != Cancelled {
		t.Fatalf("cancelled push: got %s, want cancelled", rep.Files[0].State)
	}
	testutil.Eventually(t, hangAfter, "the server to end the push", func() bool { return ts.srv.Transfers().Len() == 0 })

	// A client of another protocol version.
	p := dialRaw(t, ts)
	p.send(&wire.Hello{Magic: [4]byte([]byte(wire.Magic)), Version: wire.Version + 1, Software: "future"})
	expectMsg[*wire.Reject](p)
	p.close()

	testutil.Eventually(t, 10*time.Second, "bob's session and the raw client to end", func() bool {
		b.Close()
		return ts.srv.Sessions() == 1
	})
	fams := scrape(t, ts.srv)
	push, pull := map[string]string{"direction": "push"}, map[string]string{"direction": "pull"}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"qxfer_transfers_started_total", with(push, "client", "alice"), 4},
		{"qxfer_transfers_ended_total", with(push, "client", "alice", "code", "no_error"), 2},
		{"qxfer_transfers_ended_total", with(push, "client", "alice", "code", "up_to_date"), 2},
		{"qxfer_transfer_bytes_total", with(push, "client", "alice"), 4000},
		{"qxfer_transfer_resumed_bytes_total", with(push, "client", "alice"), 0},
		{"qxfer_transfers_started_total", with(pull, "client", "alice"), 1},
		{"qxfer_transfers_ended_total", with(pull, "client", "alice", "code", "no_error"), 1},
		{"qxfer_transfer_bytes_total", with(pull, "client", "alice"), 3000},
		{"qxfer_requests_refused_total", map[string]string{"client": "alice", "code": "not_found"}, 1},
		{"qxfer_requests_refused_total", nil, 1},
		{"qxfer_transfers_started_total", with(push, "client", bobLabel), 1},
		{"qxfer_transfers_ended_total", with(push, "client", bobLabel, "code", "cancelled"), 1},
		{"qxfer_transfers_ended_total", nil, 6},
		{"qxfer_transfer_duration_seconds", push, 5},
		{"qxfer_transfer_duration_seconds", pull, 1},
		{"qxfer_sessions_total", map[string]string{"client": "alice"}, 1},
		{"qxfer_sessions_total", map[string]string{"client": bobLabel}, 1},
		{"qxfer_sessions_open", nil, 1},
		{"qxfer_connections_open", nil, 1},
		{"qxfer_handshake_failures_total", map[string]string{"cause": "version_mismatch"}, 1},
		{"qxfer_handshake_failures_total", nil, 1},
		{"qxfer_partials_swept_total", nil, 0},
	}
	for _, tc := range tests {
		if got := valueIn(fams, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v: got %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	if got := valueIn(fams, "qxfer_root_free_bytes", nil); got <= 0 {
		t.Errorf("qxfer_root_free_bytes: got %v, want the free space of the root's file system", got)
	}
	// bob's push moved part of the file, and the counter says how much.
	if got := valueIn(fams, "qxfer_transfer_bytes_total", with(push, "client", bobLabel)); got < 1<<20 || got >= bigSize {
		t.Errorf("bytes of the cancelled push: got %v, want between 1 MiB and %d", got, bigSize)
	}
	if _, err := os.Stat(filepath.Join(ts.root, "big")); err == nil {
		t.Error("the cancelled push left a file under its final name")
	}
}

//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"syscall"
	"time"
)

// tcpPayloadPerPacket is the TCP payload of a full 1500-byte IP packet
// with the timestamp option (1500 - 20 IP - 20 TCP - 12 options). iperf3
// reports payload; the emulator's rate counts whole IP packets.
const tcpPayloadPerPacket = 1448

// Calibration is what ping and iperf3 measured through the emulator.
type Calibration struct {
	WantRTT    float64 `json:"want_rtt_ms"`
	RTTAvg     float64 `json:"rtt_avg_ms"`
	RTTMin     float64 `json:"rtt_min_ms"`
	RTTOK      bool    `json:"rtt_ok"`
	PingLoss   float64 `json:"ping_loss"` // fraction of echo requests without a reply
	PingCount  int     `json:"ping_count"`
	WantLoss   float64 `json:"want_loss"` // round trip: 1-(1-p)^2
	WantRate   float64 `json:"want_rate_mbps"`
	TCPGoodput float64 `json:"tcp_goodput_mbps"` // iperf3's receiver figure
	TCPIPRate  float64 `json:"tcp_ip_rate_mbps"` // the same in IP bytes (x 1500/1448)
	RateOK     bool    `json:"rate_ok"`
	IperfSecs  int     `json:"iperf_seconds"`
	IperfOmit  int     `json:"iperf_omit_seconds"`
	CC         string  `json:"cc"`
	Err        string  `json:"error,omitempty"`
}

var rttRE = regexp.MustCompile(`= ([0-9.]+)/([0-9.]+)/([0-9.]+)/`)
var lossRE = regexp.MustCompile(`([0-9]+) packets transmitted, ([0-9]+) received`)

// calibrate pings through the link and, when measureRate is set, runs
// iperf3 across it.
func (b *bench) calibrate(ctx context.Context, w *world, pings int, interval string, measureRate bool) *Calibration {
	s := w.link.spec
	c := &Calibration{WantRTT: float64(2*s.Delay) / 1e6, WantRate: float64(s.Rate) / 1e6, CC: b.defaultCC,
		WantLoss: 1 - (1-s.Loss)*(1-s.Loss), PingCount: pings}
	out, err := runOut(ctx, "ip", "netns", "exec", w.nsClient, "ping", "-q", "-c", strconv.Itoa(pings), "-i", interval, "-W", "2", w.addr)
	if m := lossRE.FindStringSubmatch(out); m != nil {
		sent, _ := strconv.Atoi(m[1])
		got, _ := strconv.Atoi(m[2])
		c.PingLoss = 1 - float64(got)/float64(sent)
	}
	if m := rttRE.FindStringSubmatch(out); m != nil {
		c.RTTMin, _ = strconv.ParseFloat(m[1], 64)
		c.RTTAvg, _ = strconv.ParseFloat(m[2], 64)
		c.RTTOK = math.Abs(c.RTTAvg-c.WantRTT) <= 0.05*c.WantRTT
	} else {
		c.Err = fmt.Sprintf("ping: %v %s", err, out)
		return c
	}
	if !measureRate {
		return c
	}
	c.IperfSecs, c.IperfOmit = 10, 2
	if b.quick {
		c.IperfSecs, c.IperfOmit = 4, 1
	}
	srv, err := spawn("iperf3 -s", inNS(w.nsServer, nil, "iperf3", "-s", "-1", "-B", w.addr), false)
	if err != nil {
		c.Err = err.Error()
		return c
	}
	defer srv.stop(syscall.SIGTERM)
	srv.out.waitLine(ctx, "listening", 5*time.Second)
	var res struct {
		End struct {
			SumReceived struct {
				BPS float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	out, err = runOut(ctx, "ip", "netns", "exec", w.nsClient, "iperf3", "-c", w.addr, "-t", strconv.Itoa(c.IperfSecs), "-O", strconv.Itoa(c.IperfOmit), "-J")
	if err != nil {
		c.Err = err.Error()
		return c
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		c.Err = "iperf3 output: " + err.Error()
		return c
	}
	c.TCPGoodput = res.End.SumReceived.BPS / 1e6
	c.TCPIPRate = c.TCPGoodput * 1500 / tcpPayloadPerPacket
	c.RateOK = math.Abs(c.TCPIPRate-c.WantRate) <= 0.05*c.WantRate
	return c
}

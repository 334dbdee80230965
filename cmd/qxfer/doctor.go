package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"time"

	"github.com/rs/zerolog"

	"github.com/qxfer/qxfer/certs"
	"github.com/qxfer/qxfer/quicx"
	"github.com/qxfer/qxfer/session"
)

type doctorCmd struct {
	Fingerprint string `name:"fingerprint" env:"QXFER_FINGERPRINT" placeholder:"FP" help:"Expect this server fingerprint (instead of the alias's or known_hosts)."`
	Timeout     string `name:"timeout" default:"5s" help:"Give up on the host after this long."`
	Target      string `arg:"" optional:"" name:"HOST[:PORT]" predictor:"host" help:"Server to check (an alias from config.toml works); without it only this machine is checked."`
}

// Help describes the checks.
func (doctorCmd) Help() string {
	return `Prints one check per line on stdout: ok, warn, fail or skip (not
checked on this OS), the check's name and what was found, then "hint:"
lines saying what to do. Checks: UDP socket buffer limits, GSO and ECN
support and, given a host, the path MTU to it, whether it answers a qxfer
handshake, the round-trip time, whether its fingerprint matches the pin
(--fingerprint, the alias's, or known_hosts) and whether it admits this
client. Nothing is written to known_hosts. Exit status 1 if a check failed.`
}

// doctorReport prints the checks and counts failures: as lines of text,
// or with --json one doctorCheck per check, its hints included.
type doctorReport struct {
	w     io.Writer
	e     *env
	json  bool
	last  *doctorCheck // the check whose hints are still coming (--json)
	fails int
}

// flush writes the pending --json check.
func (r *doctorReport) flush() {
	if r.last != nil {
		_ = writeJSON(r.e, r.last)
		r.last = nil
	}
}

// Check statuses.
const (
	statusOK   = "ok"
	statusWarn = "warn"
	statusFail = "fail"
	statusSkip = "skip" // not checked here: the OS gives no way to ask
)

func (r *doctorReport) check(status, name, format string, args ...any) {
	if status == statusFail {
		r.fails++
	}
	if r.json {
		r.flush()
		r.last = &doctorCheck{V: jsonVersion, Check: name, Status: status, Detail: fmt.Sprintf(format, args...)}
		return
	}
	fmt.Fprintf(r.w, "%-4s %s: %s\n", status, name, printable(fmt.Sprintf(format, args...)))
}

func (r *doctorReport) hint(lines ...string) {
	if r.json && r.last != nil {
		r.last.Hints = append(r.last.Hints, lines...)
		return
	}
	for _, l := range lines {
		fmt.Fprintf(r.w, "hint: %s\n", printable(l))
	}
}

// Run runs the checks.
func (d *doctorCmd) Run(ctx context.Context, e *env) error {
	timeout, err := parseDuration(d.Timeout)
	if err != nil {
		return withExit(exitUsage, fmt.Errorf("--timeout: %w", err))
	}
	var pin certs.Fingerprint
	if d.Fingerprint != "" {
		pin, err = certs.ParseFingerprint(d.Fingerprint)
		if err == nil && pin.IsZero() {
			err = fmt.Errorf("%w: the all-zero fingerprint", certs.ErrBadFingerprint)
		}
		if err != nil {
			return withExit(exitUsage, fmt.Errorf("--fingerprint: %w", err), "pass the server's fingerprint as printed by 'qxfer id' on the server")
		}
	}
	var target remote
	if d.Target != "" {
		if target, err = parseHostArg(d.Target); err != nil {
			return withExit(exitUsage, err, "usage: qxfer doctor [HOST[:PORT]]")
		}
	}

	rep := &doctorReport{w: e.stdout, e: e, json: e.json}
	defer rep.flush()
	checkBuffers(rep)
	checkSupport(rep, "gso", "UDP_SEGMENT: quic-go sends many packets per system call", quicx.ProbeGSO)
	checkSupport(rep, "ecn", "IP_RECVTOS: quic-go reads ECN marks for congestion control", quicx.ProbeECN)
	if d.Target != "" {
		if err := d.checkHost(ctx, e, rep, target, pin, timeout); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return withExit(exitInterrupted, errors.New("interrupted"))
	}
	if rep.fails > 0 {
		return withExit(exitFailed, fmt.Errorf("%d %s failed", rep.fails, plural(rep.fails, "check", "checks")))
	}
	return nil
}

func checkBuffers(rep *doctorReport) {
	const name = "udp buffers"
	b, err := quicx.CheckBuffers()
	if err != nil {
		rep.check(statusWarn, name, "cannot open a test socket: %v", err)
		return
	}
	caps := ""
	if b.ReadMax > 0 || b.WriteMax > 0 {
		caps = fmt.Sprintf(" (net.core.rmem_max=%d, net.core.wmem_max=%d)", b.ReadMax, b.WriteMax)
	}
	want := humanBytes(quicx.WantBufferBytes)
	switch {
	case b.Granted.Read == 0 && b.Granted.Write == 0:
		rep.check(statusSkip, name, "unknown on %s: the kernel cannot be asked what it granted", runtime.GOOS)
		return
	case !b.Granted.OK():
		rep.check(statusWarn, name, "a socket gets %s receive, %s send, want %s each%s; throughput on fast or long links will suffer",
			humanBytes(int64(b.Granted.Read)), humanBytes(int64(b.Granted.Write)), want, caps)
	case !b.CapsOK():
		// Root may exceed the caps; other users get the caps.
		rep.check(statusWarn, name, "%s granted to this (privileged) process, but the kernel caps other users lower%s", want, caps)
	default:
		rep.check(statusOK, name, "%s receive and send granted%s", want, caps)
		return
	}
	rep.hint("raise the limits (as root):")
	for _, h := range quicx.SysctlHint() {
		rep.hint("  " + h)
	}
	rep.hint("to keep them after a reboot, put these lines in " + quicx.SysctlConfFile + ":")
	for _, l := range quicx.SysctlConf() {
		rep.hint("  " + l)
	}
}

func checkSupport(rep *doctorReport, name, what string, probe func() (quicx.Support, error)) {
	s, err := probe()
	switch {
	case err != nil:
		rep.check(statusWarn, name, "probe failed: %v", err)
	case s == quicx.Supported:
		rep.check(statusOK, name, "available (%s)", what)
	case s == quicx.Disabled:
		rep.check(statusWarn, name, "available but disabled by QUIC_GO_DISABLE_%s", upper(name))
		rep.hint("unset QUIC_GO_DISABLE_" + upper(name) + " unless it works around a problem")
	case s == quicx.Unsupported:
		rep.check(statusWarn, name, "not supported by this kernel; qxfer works, with more CPU per byte")
	default:
		rep.check(statusSkip, name, "unknown on %s (probed on Linux only)", runtime.GOOS)
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// checkHost checks the path to the server, its handshake, round-trip time,
// fingerprint and whether it admits this client; ctx ending means the user
// interrupted. It returns only errors that end the command (no identity).
func (d *doctorCmd) checkHost(ctx context.Context, e *env, rep *doctorReport, target remote, pin certs.Fingerprint, timeout time.Duration) error {
	r, aliasPin := e.config.resolve(target)
	addr := r.Addr()
	label := addr
	if r.Host != target.Host {
		label = fmt.Sprintf("%s (%s)", target.Host, addr)
	}

	mtu, ipv6, err := quicx.PathMTU(addr)
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		rep.check(statusSkip, "path mtu", "unknown on %s (probed on Linux only)", runtime.GOOS)
	case err != nil:
		rep.check(statusWarn, "path mtu", "cannot tell: %v", err)
	case mtu < quicx.MinPathMTU(ipv6):
		rep.check(statusFail, "path mtu", "%d bytes to %s, QUIC needs at least %d", mtu, r.Host, quicx.MinPathMTU(ipv6))
		rep.hint("a tunnel or VPN with a small MTU is in the way; QUIC cannot fragment packets")
	default:
		rep.check(statusOK, "path mtu", "%d bytes to %s (QUIC needs at least %d)", mtu, r.Host, quicx.MinPathMTU(ipv6))
	}

	id, err := e.identity()
	if err != nil {
		return err
	}
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	// First a bare QUIC and TLS handshake that accepts any server
	// certificate, to see whether the host answers, its round-trip time
	// and its fingerprint even when it would refuse this client.
	var seen certs.Fingerprint
	tlsConf := quicx.ClientTLS(id, session.ALPN, "qxfer", func(fp certs.Fingerprint) error {
		seen = fp
		return nil
	})
	qc, err := quicx.Dial(hctx, addr, tlsConf, quicx.Config{HandshakeTimeout: timeout}, zerolog.Nop())
	switch {
	case err == nil:
		rep.check(statusOK, "answers", "%s completed a QUIC and TLS handshake (%s)", label, session.ALPN)
		st := qc.ConnectionStats()
		rep.check(statusOK, "rtt", "%s smoothed, %s min (measured over the handshake)", fmtRTT(st.SmoothedRTT), fmtRTT(st.MinRTT))
		qc.Close(0, "")
	case quicx.IsPeerRefusedCert(err):
		rep.check(statusOK, "answers", "%s answered and refused this client's certificate", label)
	case quicx.IsALPNRefused(err):
		rep.check(statusFail, "answers", "%s answered but does not speak %s", label, session.ALPN)
		rep.hint("it may run another qxfer version; compare 'qxfer version' on both sides")
		return nil
	case ctx.Err() != nil:
		return nil
	case errors.As(err, new(*quicx.NoListenerError)):
		rep.check(statusFail, "answers", "nothing listens on UDP %d at %s", r.Port, r.Host)
		rep.hint("is 'qxfer serve' running there, and listening on that port (--listen)?")
		return nil
	case hctx.Err() != nil, quicx.IsNoAnswer(err):
		rep.check(statusFail, "answers", "no answer from %s within %s", label, timeout)
		rep.hint(fmt.Sprintf("is 'qxfer serve' running on %s, and is UDP port %d open in the firewalls on the way?", r.Host, r.Port))
		return nil
	default:
		rep.check(statusFail, "answers", "%s: %v", label, err)
		rep.hint(fmt.Sprintf("is 'qxfer serve' running on %s, and is UDP port %d open in the firewalls on the way?", r.Host, r.Port))
		return nil
	}
	if seen.IsZero() {
		return nil
	}

	if !d.checkFingerprint(e, rep, target, r, seen, pin, aliasPin) {
		return nil // do not talk to an impostor
	}

	// Then a real qxfer session (hello and welcome) pinned to what we saw:
	// does the server admit this client?
	c, err := session.Dial(hctx, addr, session.ClientConfig{
		Identity: id, Fingerprint: seen, HostKey: addr, Software: "qxfer/" + version(), WatchRoute: -1, RetryFor: -1,
		Quic: quicx.Config{HandshakeTimeout: timeout},
	})
	var ue *session.UnauthorizedError
	switch {
	case err == nil:
		rep.check(statusOK, "authorized", "the server admits this client (%s)", id.Fingerprint)
		c.Close()
	case errors.As(err, &ue):
		rep.check(statusFail, "authorized", "%v", ue)
		rep.hint(ue.Hint()...)
	case ctx.Err() != nil:
	default:
		rep.check(statusFail, "authorized", "qxfer session failed: %v", err)
	}
	return nil
}

// checkFingerprint compares the server's fingerprint with the pin: an
// explicit --fingerprint, else the alias's, else known_hosts. It reports
// whether the session may go on.
func (d *doctorCmd) checkFingerprint(e *env, rep *doctorReport, target, r remote, seen, pin, aliasPin certs.Fingerprint) bool {
	const name = "fingerprint"
	addr := r.Addr()
	switch {
	case !pin.IsZero() || !aliasPin.IsZero():
		src := "--fingerprint"
		hints := (&certs.MismatchError{}).Hint()
		if pin.IsZero() {
			pin = aliasPin
			src = fmt.Sprintf("the alias %s in %s", target.Host, e.config.path)
			hints = []string{fmt.Sprintf("check fingerprint in [hosts.%s] of %s against 'qxfer id' on the server", target.Host, e.config.path)}
		}
		if seen != pin {
			me := &certs.MismatchError{Host: addr, Want: pin, Got: seen}
			rep.check(statusFail, name, "%v", me)
			rep.hint(hints...)
			return false
		}
		rep.check(statusOK, name, "%s matches %s", seen, src)
		return true
	}
	kh, err := certs.LoadKnownHosts(filepath.Join(e.home, certs.KnownHostsFile))
	if err != nil {
		rep.check(statusWarn, name, "server has %s; cannot read known_hosts: %v", seen, err)
		return true
	}
	k, ok := kh.Lookup(addr)
	switch {
	case !ok:
		rep.check(statusWarn, name, "%s is not pinned yet; the first push, pull, ls or shell pins it in %s", seen, kh.Path())
		rep.hint("verify it with 'qxfer id' on the server, or pin it with --fingerprint or an alias in config.toml")
		return true
	case k.Fingerprint != seen:
		me := &certs.MismatchError{Host: addr, Want: k.Fingerprint, Got: seen, File: kh.Path(), Line: k.Line}
		rep.check(statusFail, name, "%v", me)
		rep.hint(me.Hint()...)
		return false
	}
	rep.check(statusOK, name, "%s matches line %d of %s", seen, k.Line, kh.Path())
	return true
}

// fmtRTT rounds a round-trip time for display.
func fmtRTT(d time.Duration) string {
	switch {
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}

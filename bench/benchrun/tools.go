//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// kit holds the binaries and identities every run uses.
type kit struct {
	dir        string // the run's temporary directory
	qxfer      string
	linkem     string
	quicperf   string
	clientHome string // QXFER_HOME of the client
	serverHome string // QXFER_HOME of the server
	sshKey     string // client's private key
	sshdConfig string
	hasConns   bool // qxfer push knows --connections
}

func (k *kit) setup(ctx context.Context) error {
	if err := k.setupIdentity(ctx); err != nil {
		return err
	}
	help, _ := exec.CommandContext(ctx, k.qxfer, "push", "--help").CombinedOutput()
	k.hasConns = strings.Contains(string(help), "--connections")
	return k.setupSSH(ctx)
}

// setupIdentity makes the client's and the server's QXFER_HOME under
// k.dir, with the client's fingerprint in the server's authorized_clients.
func (k *kit) setupIdentity(ctx context.Context) error {
	k.clientHome = filepath.Join(k.dir, "client-home")
	k.serverHome = filepath.Join(k.dir, "server-home")
	for _, d := range []string{k.clientHome, k.serverHome} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	c := exec.CommandContext(ctx, k.qxfer, "id")
	c.Env = append(os.Environ(), "QXFER_HOME="+k.clientHome)
	fp, err := c.Output()
	if err != nil {
		return fmt.Errorf("qxfer id: %w", err)
	}
	return os.WriteFile(filepath.Join(k.serverHome, "authorized_clients"), []byte(strings.TrimSpace(string(fp))+" bench-client\n"), 0o600)
}

// setupSSH makes a throwaway host key, a client key authorized for root,
// and an sshd configuration that uses them (default ciphers, no PAM, no
// passwords). sshd runs per transfer in the server's namespace.
func (k *kit) setupSSH(ctx context.Context) error {
	d := filepath.Join(k.dir, "ssh")
	if err := os.MkdirAll(d, 0o700); err != nil {
		return err
	}
	k.sshKey = filepath.Join(d, "client_key")
	host := filepath.Join(d, "host_key")
	for _, key := range []string{k.sshKey, host} {
		if _, err := runOut(ctx, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key); err != nil {
			return err
		}
	}
	pub, err := os.ReadFile(k.sshKey + ".pub")
	if err != nil {
		return err
	}
	auth := filepath.Join(d, "authorized_keys")
	if err := os.WriteFile(auth, pub, 0o600); err != nil {
		return err
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil { // privilege separation directory
		return err
	}
	k.sshdConfig = filepath.Join(d, "sshd_config")
	conf := fmt.Sprintf(`Port 22
HostKey %s
AuthorizedKeysFile %s
PidFile none
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
PrintMotd no
Subsystem sftp /usr/lib/openssh/sftp-server
`, host, auth)
	return os.WriteFile(k.sshdConfig, []byte(conf), 0o600)
}

func (k *kit) sshCmd() []string {
	return []string{"-F", "/dev/null", "-i", k.sshKey, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "LogLevel=ERROR"}
}

// tool is one way of moving the files: a peer and its options.
type tool struct {
	name  string // "qxfer", "scp", "rsync", "quicperf"
	label string // as shown in tables, e.g. "qxfer --connections auto"
	args  []string
	cc    string // TCP congestion control for the TCP peers ("" = the kernel default)
}

// job is what one transfer moves.
type job struct {
	srcs      []string // local paths
	recursive bool
	bytes     int64 // payload bytes
	files     int
	fileSize  int64 // each file's size, for counting complete files of a tree
	deadline  time.Duration
}

// startServer starts a fresh server for one transfer and waits until it
// says it is ready. The fingerprint is a qxfer server's; the others have
// none.
func (k *kit) startServer(ctx context.Context, w *world, t tool, root string) (*server, string, error) {
	var (
		name, kind, ready string
		c                 *exec.Cmd
	)
	switch t.name {
	case "qxfer":
		name, kind, ready = "qxfer serve", "qxfer", "fingerprint"
		c = inNS(w.nsServer, []string{"QXFER_HOME=" + k.serverHome}, k.qxfer, "serve", "--root", root,
			"--listen", w.addr+":4433", "--log-level", "warn", "--log-format", "console")
	case "scp", "rsync":
		name, kind, ready = "sshd", "sshd", "Server listening"
		c = inNS(w.nsServer, nil, "/usr/sbin/sshd", "-D", "-e", "-f", k.sshdConfig, "-o", "ListenAddress="+w.addr)
	case "quicperf":
		name, kind, ready = "quicperf server", "quicperf", "listening"
		c = inNS(w.nsServer, nil, k.quicperf, "server", "-listen", w.addr+":4500")
	default:
		return nil, "", fmt.Errorf("unknown tool %s", t.name)
	}
	// sshd's listener is no part of any one transfer, so its tree's peak
	// leaves it out; and sshd -e says it is ready on stderr.
	p, err := spawn(name, c, kind == "sshd")
	if err != nil {
		return nil, "", err
	}
	out := p.out
	if kind == "sshd" {
		out = p.errb
	}
	line, err := out.waitLine(ctx, ready, 10*time.Second)
	if err != nil {
		p.kill()
		return nil, "", fmt.Errorf("%s: %w: %s", name, err, p.errb.String())
	}
	fp := ""
	if kind == "qxfer" {
		f := strings.Fields(line)
		fp = f[len(f)-1]
	}
	return &server{p: p, kind: kind}, fp, nil
}

// clientCmd is the command that moves j into the run directory sub of the
// server's root dir.
func (k *kit) clientCmd(w *world, t tool, j job, root, sub, fp string) *exec.Cmd {
	switch t.name {
	case "qxfer":
		args := []string{"push", "-q", "--log-level", "warn", "--log-format", "console", "--fingerprint", fp}
		if j.recursive {
			args = append(args, "-r")
		}
		args = append(args, t.args...)
		args = append(args, j.srcs...)
		args = append(args, w.addr+":4433:"+sub)
		return inNS(w.nsClient, []string{"QXFER_HOME=" + k.clientHome}, k.qxfer, args...)
	case "scp":
		args := append([]string{"-q"}, k.sshCmd()...)
		if j.recursive {
			args = append(args, "-r")
		}
		args = append(args, t.args...)
		args = append(args, j.srcs...)
		args = append(args, "root@"+w.addr+":"+filepath.Join(root, sub)+"/")
		return inNS(w.nsClient, nil, "scp", args...)
	case "rsync":
		args := []string{"-a", "-e", "ssh " + strings.Join(k.sshCmd(), " ")}
		args = append(args, t.args...)
		args = append(args, j.srcs...)
		args = append(args, "root@"+w.addr+":"+filepath.Join(root, sub)+"/")
		return inNS(w.nsClient, nil, "rsync", args...)
	case "quicperf":
		return inNS(w.nsClient, nil, k.quicperf, "client", "-addr", w.addr+":4500", "-bytes", fmt.Sprint(j.bytes))
	}
	panic("unknown tool " + t.name)
}

// quicperfTotal reads the byte total from a stopped quicperf server.
func quicperfTotal(p *proc) int64 {
	for _, line := range strings.Split(p.out.String(), "\n") {
		var ev struct {
			Event string `json:"event"`
			Bytes int64  `json:"bytes"`
		}
		if json.Unmarshal([]byte(line), &ev) == nil && ev.Event == "exit" {
			return ev.Bytes
		}
	}
	return 0
}

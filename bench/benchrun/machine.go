//go:build linux

package main

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Machine describes where the figures come from.
type Machine struct {
	CPU       string  `json:"cpu"`
	Cores     int     `json:"cores"`
	MemGiB    float64 `json:"mem_gib"`
	Kernel    string  `json:"kernel"`
	Go        string  `json:"go"`
	Date      string  `json:"date"`
	Commit    string  `json:"commit"`
	Qxfer     string  `json:"qxfer"`
	OpenSSH   string  `json:"openssh"`
	Rsync     string  `json:"rsync"`
	Iperf3    string  `json:"iperf3"`
	DefaultCC string  `json:"tcp_cc"`
	FS        string  `json:"fs"`
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func cmdLine(ctx context.Context, name string, args ...string) string {
	out, _ := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return firstLine(string(out))
}

func machineInfo(ctx context.Context, b *bench) Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), Date: time.Now().UTC().Format("2006-01-02 15:04 UTC"), DefaultCC: b.defaultCC}
	if ci, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(ci), "\n") {
			if strings.HasPrefix(l, "model name") {
				m.CPU = strings.TrimSpace(l[strings.IndexByte(l, ':')+1:])
				break
			}
		}
	}
	if mi, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		for _, l := range strings.Split(string(mi), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
				for _, c := range f[1] {
					kb = kb*10 + float64(c-'0')
				}
			}
		}
		m.MemGiB = kb / (1 << 20)
	}
	m.Kernel = cmdLine(ctx, "uname", "-sr")
	m.Go = cmdLine(ctx, "go", "version")
	m.Commit = cmdLine(ctx, "git", "-C", b.repo, "describe", "--always", "--dirty")
	m.Qxfer = strings.Join(strings.Fields(cmdLine(ctx, b.kit.qxfer, "version")), " ")
	m.OpenSSH = cmdLine(ctx, "ssh", "-V")
	m.Rsync = cmdLine(ctx, "rsync", "--version")
	m.Iperf3 = cmdLine(ctx, "iperf3", "--version")
	m.FS = strings.Join(strings.Fields(cmdLine(ctx, "sh", "-c", "df -T "+b.kit.dir+" | tail -1 | awk '{print $2, $1}'")), " ")
	return m
}

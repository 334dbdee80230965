//go:build linux

// Package netns creates, enters and removes named Linux network namespaces
// (the ones `ip netns` manages under /run/netns) for the benchmark tools.
// Everything here needs root.
package netns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// Prefix starts the name of every namespace this package creates:
// "lkm-PID-N-ROLE". The PID lets Cleanup tell leftovers of dead processes
// from namespaces still in use.
const Prefix = "lkm-"

var nameRE = regexp.MustCompile(`^lkm-([0-9]+)-[0-9]+-[a-z0-9]+$`)

var seq atomic.Int64

// NewBase returns a name stem unique to this process and call,
// "lkm-PID-N". Callers append "-ROLE" (lower-case letters and digits, e.g.
// "-a", "-b", "-lo") to name each namespace of one setup.
func NewBase() string {
	return fmt.Sprintf("%s%d-%d", Prefix, os.Getpid(), seq.Add(1))
}

// Add creates the namespace name and brings its loopback interface up.
func Add(name string) error {
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns add %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	if err := IP(name, "link", "set", "lo", "up"); err != nil {
		Delete(name)
		return err
	}
	return nil
}

// Delete removes the namespace name. Processes still inside it keep it
// alive, nameless, until they exit.
func Delete(name string) error {
	if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns delete %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// IP runs `ip -n ns ARGS...`.
func IP(ns string, args ...string) error {
	all := append([]string{"-n", ns}, args...)
	if out, err := exec.Command("ip", all...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(all, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// IPRoot runs `ip ARGS...` in the caller's namespace.
func IPRoot(args ...string) error {
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Command returns a command that runs name with args inside namespace ns
// (`ip netns exec`, which execs the program, so the process id is the
// program's own).
func Command(ns, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// Do runs fn on a locked OS thread that has entered namespace ns. Sockets
// fn opens belong to ns and stay there after Do returns.
func Do(ns string, fn func() error) error {
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		return fmt.Errorf("netns %s: %w", ns, err)
	}
	defer target.Close()
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: %w", err)
	}
	defer orig.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("setns %s: %w", ns, err)
	}
	ferr := fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// Leave the thread locked: the runtime discards it when this
		// goroutine exits, so no other goroutine runs in ns by accident.
		return errors.Join(ferr, fmt.Errorf("setns back: %w", err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// Cleanup deletes namespaces named by this package whose creating process
// is gone (all of them when all is set) and returns the names it deleted.
func Cleanup(all bool) ([]string, error) {
	ents, err := os.ReadDir("/run/netns")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var deleted []string
	var errs []error
	for _, e := range ents {
		m := nameRE.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if !all && alive(pid) {
			continue
		}
		if err := Delete(e.Name()); err != nil {
			errs = append(errs, err)
			continue
		}
		deleted = append(deleted, e.Name())
	}
	return deleted, errors.Join(errs...)
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

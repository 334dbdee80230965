//go:build unix

package session

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/testutil"
)

// TestPermissionDeniedCLI runs the real qxfer client as user nobody,
// pushing a root-owned 0600 file: the open fails with EACCES, which the
// client must report naming the file and "permission denied", exiting 1;
// nothing reaches the server.
func TestPermissionDeniedCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the qxfer binary")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the client as nobody")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build qxfer with")
	}
	// Everything nobody touches must be reachable by it: t.TempDir is 0700.
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "qxfer")
	if out, err := exec.Command(goBin, "build", "-o", bin, "github.com/qxfer/qxfer/cmd/qxfer").CombinedOutput(); err != nil {
		t.Fatalf("build qxfer: %v\n%s", err, out)
	}
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(home, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(dir, "secret.bin")
	testutil.WriteRandom(t, secret, 1000)
	if err := os.Chmod(secret, 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, ServerConfig{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--home", home, "push", "--fingerprint", ts.id.Fingerprint.String(), secret, ts.addr+":.")
	cmd.Env = []string{"HOME=" + home, "PATH=/usr/bin:/bin"}
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("qxfer push as nobody: got %v, want exit status 1\nstderr:\n%s", err, stderr.String())
	}
	msg := stderr.String()
	if !strings.Contains(msg, "secret.bin") || !strings.Contains(msg, "permission denied") {
		t.Errorf("stderr: got %q, want it to name secret.bin and say permission denied", msg)
	}
	t.Logf("stderr: %s", msg)
	testutil.NoFile(t, filepath.Join(ts.root, "secret.bin"))
	testutil.NoPartials(t, ts.root)
	checkServes(t, ts)
}

package testutil

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// S3Server is a real S3-compatible store for a test: versitygw serving
// a temporary directory on a free loopback port, with throwaway keys.
// An object KEY of bucket Bucket is the file Dir/Bucket/KEY.
type S3Server struct {
	Endpoint  string // http://127.0.0.1:PORT
	Bucket    string // created empty
	AccessKey string
	SecretKey string
	Dir       string
}

// VersitygwVersion is the versitygw the Makefile and .ci/run install
// into .tools/ (design study s3-store.md, section 3).
const VersitygwVersion = "v1.8.0"

// versitygw finds the versitygw binary: on PATH, else in the module's
// .tools/ directory.
func versitygw() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, ".tools", "versitygw")
			if _, err := os.Stat(p); err != nil {
				return "", err
			}
			return p, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", os.ErrNotExist
		}
		dir = up
	}
}

// RequireS3 reports whether a missing S3 server fails a test rather
// than skipping it: in CI (CI set) or with QXFER_REQUIRE_S3=1.
func RequireS3() bool {
	return os.Getenv("CI") != "" || os.Getenv("QXFER_REQUIRE_S3") == "1"
}

// StartS3 starts versitygw for t, stopped when t ends. Without the binary
// the test fails when RequireS3, and is skipped (with a message saying how
// to install it) otherwise.
func StartS3(t testing.TB) *S3Server {
	t.Helper()
	s, stop, err := StartVersitygw(t.TempDir(), t.TempDir())
	if errors.Is(err, ErrNoVersitygw) {
		if RequireS3() {
			t.Fatal(err)
		}
		t.Skip("SKIPPING S3 TEST: ", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return s
}

// ErrNoVersitygw says versitygw is not installed.
var ErrNoVersitygw = errors.New("versitygw not found on PATH or in .tools/: install it with `make tools` (go install github.com/versity/versitygw/cmd/versitygw@" + VersitygwVersion + ")")

// StartVersitygw starts versitygw serving dir (with an empty bucket) on
// a free loopback port, logging to logDir/versitygw.log; stop kills it
// and waits for it. A missing binary is ErrNoVersitygw.
func StartVersitygw(dir, logDir string) (s *S3Server, stop func(), err error) {
	bin, err := versitygw()
	if err != nil {
		return nil, nil, ErrNoVersitygw
	}
	s = &S3Server{Bucket: "qxfer-test", AccessKey: randomHex(8), SecretKey: randomHex(16), Dir: dir}
	if err := os.Mkdir(filepath.Join(s.Dir, s.Bucket), 0o755); err != nil {
		return nil, nil, err // a directory under the data directory is a bucket
	}
	logf, err := os.Create(filepath.Join(logDir, "versitygw.log"))
	if err != nil {
		return nil, nil, err
	}
	for try := 0; ; try++ {
		addr, err := freePort()
		if err != nil {
			logf.Close()
			return nil, nil, err
		}
		cmd := exec.Command(bin, "--port", addr, "--quiet", "posix", s.Dir)
		cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+s.AccessKey, "ROOT_SECRET_KEY="+s.SecretKey)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			logf.Close()
			return nil, nil, fmt.Errorf("start versitygw: %w", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if waitListening(addr, exited, 20*time.Second) {
			s.Endpoint = "http://" + addr
			return s, func() {
				cmd.Process.Kill()
				<-exited
				logf.Close()
			}, nil
		}
		cmd.Process.Kill()
		<-exited
		if try == 2 {
			logf.Close()
			return nil, nil, fmt.Errorf("versitygw did not start listening on %s (log in %s)", addr, logf.Name())
		}
	}
}

// waitListening waits until addr accepts TCP connections, the process
// exits (false), or timeout passes (false).
func waitListening(addr string, exited <-chan error, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// freePort returns a loopback TCP address that was free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

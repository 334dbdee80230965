package session

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/internal/udpproxy"
	"github.com/qxfer/qxfer/quicx"
)

// TestProcFile checks that a file whose stat size is 0 but which holds
// bytes (/proc/self/status) is sent with what it holds, push and pull.
// Regression: the sender read exactly the stat size, so the push
// reported "1 file pushed (0 B)" and left an empty file.
func TestProcFile(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc")
	}
	t.Run("push", func(t *testing.T) {
		ts, c := startWithClient(t)
		rep, err := c.Push(testCtx(t), []string{"/proc/self/status"}, "up", Options{})
		checkReport(t, "push", rep, err, 1, Done)
		checkStatus(t, filepath.Join(ts.root, "up", "status"))
	})
	t.Run("pull", func(t *testing.T) {
		// The server serves this process's /proc directory.
		ts := startServer(t, ServerConfig{Root: "/proc/self"}, nil)
		c := ts.dial(t, "")
		local := t.TempDir()
		rep, err := c.Pull(testCtx(t), []string{"status"}, local, Options{})
		checkReport(t, "pull", rep, err, 1, Done)
		checkStatus(t, filepath.Join(local, "status"))
	})
}

// checkStatus checks that p holds a copy of a /proc/PID/status file.
func checkStatus(t *testing.T, p string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("Name:\t")) || !bytes.Contains(b, []byte("\nPid:\t")) || !bytes.HasSuffix(b, []byte("\n")) {
		t.Errorf("%s: got %d bytes %q, want a whole status file", p, len(b), b[:min(len(b), 80)])
	}
}

// TestSizeChangesDuringTransfer grows or shrinks the source while it is
// sent through a slow link, push and pull: the file fails with
// source_changed, a message saying which, no file under its name, and no
// .part or record left at the receiver (nothing could resume it).
func TestSizeChangesDuringTransfer(t *testing.T) {
	const size = sizeChangeFile
	tests := []struct {
		name   string
		dir    Direction
		change func(f *os.File) error
		want   string
	}{
		{"push grows", Push, grow, "grew"},
		{"push shrinks", Push, shrink, "shrank"},
		{"pull grows", Pull, grow, "grew"},
		{"pull shrinks", Pull, shrink, "shrank"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, ServerConfig{}, nil)
			table := NewTable()
			c := dialWith(t, throttledProxy(t, ts, udpproxy.Config{RateBits: 100e6}).Addr().String(),
				clientConfig(t, ts, newIdentity(t), quicx.Config{}, table))
			local, src, dst := transferDirs(t, tt.dir, ts)
			p := filepath.Join(src, "moving.bin")
			testutil.WriteRandom(t, p, size)
			done := runAsync(func() (*Report, error) { return transferOf(tt.dir, local, "moving.bin", Options{})(longCtx(t), c) })
			rt := receiverTable(tt.dir, ts, table)
			testutil.Eventually(t, hangAfter, "2 MiB at the receiver", func() bool { return received(rt, "moving.bin") >= 2<<20 })
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.change(f); err != nil {
				t.Fatal(err)
			}
			f.Close()
			res := <-done
			checkReport(t, tt.name, res.rep, res.err, 1, Failed)
			e := fileError(t, res.rep.Files[0])
			if e.Code != CodeSourceChanged || !strings.Contains(e.Error(), tt.want) {
				t.Errorf("got %v (%v), want %v saying the file %s", e.Code, e, CodeSourceChanged, tt.want)
			}
			testutil.NoFile(t, filepath.Join(dst, "moving.bin"))
			testutil.Eventually(t, hangAfter, "the receiver to let the file go", func() bool {
				return rt.Len() == 0
			})
			testutil.NoPartials(t, dst)
		})
	}
}

// grow appends a MiB to f.
func grow(f *os.File) error {
	_, err := f.WriteAt(make([]byte, 1<<20), sizeChangeFile)
	return err
}

// sizeChangeFile is the size of the file TestSizeChangesDuringTransfer
// changes: about a second on its link.
const sizeChangeFile = 12 << 20

// shrink cuts f to 4 MiB.
func shrink(f *os.File) error { return f.Truncate(4 << 20) }

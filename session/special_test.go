//go:build unix

package session

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/session/internal/wire"
)

// specialBound is how long refusing a special file may take: it is
// refused from a stat, so anything near this bound means something
// waited (opening a FIFO without a writer waits forever).
const specialBound = 10 * time.Second

// mkSpecial makes a FIFO or a Unix socket named p.
func mkSpecial(t *testing.T, kind, p string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	switch kind {
	case "fifo":
		if err := syscall.Mkfifo(p, 0o644); err != nil {
			t.Fatal(err)
		}
	case "socket":
		ln, err := net.Listen("unix", p) // temporary paths fit in sun_path
		if err != nil {
			t.Skipf("unix socket: %v", err)
		}
		ln.(*net.UnixListener).SetUnlinkOnClose(false)
		ln.Close()
	}
}

// TestSpecialSourceRefused checks that a FIFO or a socket as a source,
// named directly or met inside -r, fails at once with CodeNotRegular on
// both sides (client push, server pull), while the regular files of the
// same batch arrive.
func TestSpecialSourceRefused(t *testing.T) {
	tests := []struct {
		name      string
		dir       Direction
		kind      string
		recursive bool
	}{
		{"push fifo", Push, "fifo", false},
		{"push fifo in tree", Push, "fifo", true},
		{"push socket", Push, "socket", false},
		{"pull fifo", Pull, "fifo", false},
		{"pull fifo in tree", Pull, "fifo", true},
		{"pull socket", Pull, "socket", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, c := startWithClient(t)
			local, src, dst := transferDirs(t, tt.dir, ts)
			tree := filepath.Join(src, "tree")
			mkSpecial(t, tt.kind, filepath.Join(tree, "p"))
			want := testutil.WriteRandom(t, filepath.Join(tree, "ok.bin"), 1000)
			var sources []string
			if tt.recursive {
				sources = []string{"tree"}
			} else {
				sources = []string{"tree/p", "tree/ok.bin"}
			}
			start := time.Now()
			var rep *Report
			var err error
			if tt.dir == Push {
				for i, s := range sources {
					sources[i] = filepath.Join(local, s)
				}
				rep, err = c.Push(testCtx(t), sources, "in", Options{Recursive: tt.recursive})
			} else {
				rep, err = c.Pull(testCtx(t), sources, filepath.Join(local, "in"), Options{Recursive: tt.recursive})
			}
			if took := time.Since(start); took > specialBound {
				t.Errorf("took %v, want well under %v", took, specialBound)
			}
			if err != nil {
				t.Fatalf("got %v, want per-file results", err)
			}
			var refused, done int
			for _, f := range rep.Files {
				switch {
				case filepath.Base(f.Path) == "p":
					refused++
					if e := fileError(t, f); e.Code != CodeNotRegular {
						t.Errorf("%s: got %v, want %v", f.Path, e, CodeNotRegular)
					}
				case f.State == Done:
					done++
				default:
					t.Errorf("%s: got %v (%v), want done", f.Path, f.State, f.Err)
				}
			}
			if refused != 1 || done != 1 {
				t.Fatalf("got %d refused and %d done, want 1 and 1: %+v", refused, done, rep.Files)
			}
			okPath := filepath.Join(dst, "in", "ok.bin")
			if tt.recursive {
				okPath = filepath.Join(dst, "in", "tree", "ok.bin")
			}
			testutil.SameFile(t, okPath, want)
			testutil.NoPartials(t, dst)
		})
	}
}

// TestGetFIFODoesNotBlockServer sends a Get for a FIFO straight to the
// server (a client checks the kind first; a hostile or racing one need
// not): the server answers not_regular at once, its command loop answers
// the next request, and it still stops promptly.
func TestGetFIFODoesNotBlockServer(t *testing.T) {
	ts := startServer(t, ServerConfig{}, nil)
	mkSpecial(t, "fifo", filepath.Join(ts.root, "q"))
	testutil.WriteRandom(t, filepath.Join(ts.root, "f"), 10)
	p := dialRaw(t, ts)
	p.hello()
	p.send(&wire.Get{ID: 1, Path: "q"})
	rej := expectMsg[*wire.Reject](p)
	if rej.ID != 1 || rej.Code != CodeNotRegular {
		t.Fatalf("got %+v, want a not_regular Reject of request 1", rej)
	}
	p.send(&wire.Stat{ID: 2, Path: "f"})
	if st := expectMsg[*wire.StatResult](p); st.ID != 2 || st.Entry.Size != 10 {
		t.Fatalf("got %+v, want the stat of f", st)
	}
	p.close()
	stopped := make(chan struct{})
	go func() { ts.stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(specialBound):
		t.Fatal("the server did not stop")
	}
}

package session

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/internal/udpproxy"
	"github.com/qxfer/qxfer/quicx"
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// durable is how many bytes of an interrupted push to remote path p the
// store holds for a resume: those of the resume record's ranges (POSIX),
// or of the parts the state object records (S3).
func (e *storeEnv) durable(t testing.TB, p string) uint64 {
	t.Helper()
	if !e.isS3() {
		if rec := readRecord(t, e.dir, p); rec != nil {
			return durableBytes(rec)
		}
		return 0
	}
	sum := sha256.Sum256([]byte(e.key(p)))
	b, err := os.ReadFile(filepath.Join(e.dir, ".qxfer", "up", hex.EncodeToString(sum[:])+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Parts []struct {
			Size uint64 `json:"size"`
		} `json:"parts"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return 0 // being rewritten; the next poll reads it whole
	}
	var n uint64
	for _, part := range st.Parts {
		n += part.Size
	}
	return n
}

// TestPushResumeAfterKill kills the client in the middle of a push, on
// each store, once the store holds CheckpointEvery bytes durably (a
// resume record, or parts recorded in the state object), and pushes again
// from a new client of the same identity: the second run sends what the
// store does not hold, and the file arrives whole. (TestResumeAfterKill
// has the pull and the source changed between the runs.)
func TestPushResumeAfterKill(t *testing.T) {
	const (
		name   = "big.bin"
		size   = 64 << 20
		killAt = xfer.CheckpointEvery
	)
	forEachStore(t, ServerConfig{}, func(t *testing.T, e *storeEnv) {
		px := throttledProxy(t, e.ts, udpproxy.Config{RateBits: resumeRate})
		id := newIdentity(t)
		local := t.TempDir()
		data := testutil.WriteRandom(t, filepath.Join(local, name), size)
		run := transferOf(Push, local, name, Options{})

		first := dialAs(t, e.ts, id, px.Addr().String(), quicx.Config{})
		killDuring(t, first, run, func() int64 { return int64(e.durable(t, name)) }, killAt)
		testutil.Eventually(t, hangAfter, "the server to end the transfer", func() bool { return e.ts.srv.Transfers().Len() == 0 })
		held := e.durable(t, name)
		if held < killAt || held >= size {
			t.Fatalf("after the kill: got %d durable bytes, want at least %d and less than %d", held, killAt, size)
		}

		f := onlyFile(t, "second run", run, dialAs(t, e.ts, id, e.ts.addr, quicx.Config{}))
		if f.State != Done {
			t.Fatalf("second run: got state %s (err %v), want done", f.State, f.Err)
		}
		remaining, slack := int64(size)-int64(held), int64(size/100)
		if f.Bytes < remaining || f.Bytes > remaining+slack {
			t.Errorf("second run: got %d bytes moved, want %d to %d (%d bytes durable)", f.Bytes, remaining, remaining+slack, held)
		}
		t.Logf("%d bytes durable; second run moved %d of %d bytes", held, f.Bytes, size)
		e.sameFile(t, name, data)
		e.noPartials(t)
	})
}

// TestPoolStripedResume cuts a striped push in the middle and pushes the
// file again from a new pooled client of the same identity, on each
// store: the server kept a version 3 resume record of the ranges it holds
// (POSIX) or a state object of the parts it recorded (S3), and the
// second run sends only the others. A source rewritten in place with the
// same size and mtime is caught by the whole-file hash (the prefix hash of
// the recorded parts, on S3) and sent again from zero: the result is the
// new content, never a splice.
func TestPoolStripedResume(t *testing.T) {
	tests := []struct {
		name   string
		change bool // rewrite the source between the runs, keeping size and mtime
	}{
		{name: "same source"},
		{name: "source changed, same size and mtime", change: true},
	}
	forEachStore(t, ServerConfig{}, func(t *testing.T, e *storeEnv) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) { testPoolStripedResume(t, e, tt.change) })
		}
	})
}

func testPoolStripedResume(t *testing.T, e *storeEnv, change bool) {
	const size = poolFileSize
	name := "resume.bin"
	if change {
		name = "changed.bin"
	}
	ts := e.another(t, ServerConfig{})
	p := throttledProxy(t, ts, udpproxy.Config{RateBits: poolRate})
	id := newIdentity(t)
	src := t.TempDir()
	path := filepath.Join(src, name)
	want := testutil.WriteRandom(t, path, size)
	m := metaOfFile(t, path)

	c1 := dialPoolAs(t, ts, id, p.Addr().String(), PoolConfig{Size: 4})
	res := transferAsync(longCtx(t), c1, transferOf(Push, src, name, Options{}))
	// On S3 the parts are recorded in order, up to a window of
	// parts behind what has arrived: wait for half the file
	// recorded.
	testutil.Eventually(t, hangAfter, "half the file on the server", func() bool {
		return liveBytes(ts.srv.Transfers(), name) >= size/2 && (!e.isS3() || e.durable(t, name) >= size/2)
	})
	i, ok := liveInfo(c1.Transfers(), func(i TransferInfo) bool { return i.Path == name })
	if !ok || !c1.Transfers().Cancel(i.ID) {
		t.Fatalf("cancel: no live push of %s on the client", name)
	}
	if f := fileByPath(t, waitPush(t, res, hangAfter), name); f.State != Cancelled {
		t.Fatalf("first run: got state %s (err %v), want cancelled", f.State, f.Err)
	}
	testutil.Eventually(t, 10*time.Second, "the server to end the cancelled push", func() bool { return ts.srv.Transfers().Len() == 0 })
	c1.Close()

	var durable int64
	if e.isS3() {
		durable = int64(e.durable(t, name))
		if n := len(e.uploads(t)); n != 1 {
			t.Fatalf("multipart uploads: got %d, want the cut push's", n)
		}
	} else {
		raw, err := os.ReadFile(filepath.Join(ts.root, xfer.RecordName(name)))
		if err != nil {
			t.Fatalf("resume record: %v", err)
		}
		if !strings.Contains(string(raw), `"v":3`) || !strings.Contains(string(raw), `"ranges":`) {
			t.Fatalf("resume record: got %s, want version 3 with ranges", raw)
		}
		rec := readRecord(t, ts.root, name)
		if !rec.Matches(m) {
			t.Fatalf("resume record: got size %d mtime %d, want %d and %d", rec.Size, rec.MTime, m.Size, m.MTime.UnixNano())
		}
		held := rec.Held()
		durable = int64(held.Total())
		t.Logf("resume record: %d ranges", len(rec.Ranges))
	}
	if durable < size/2 || durable >= size {
		t.Fatalf("resume record: got %d durable bytes, want at least the %d the server had written and less than %d",
			durable, size/2, size)
	}
	t.Logf("resume record: %d bytes", durable)

	if change {
		want = bytes.Clone(want)
		for i := 0; i < size; i += 4096 {
			want[i] ^= 0x5a
		}
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, m.MTime, m.MTime); err != nil {
			t.Fatal(err)
		}
		if got := metaOfFile(t, path); got.Size != m.Size || !got.MTime.Equal(m.MTime) {
			t.Fatalf("rewritten source: got size %d mtime %v, want %d and %v", got.Size, got.MTime, m.Size, m.MTime)
		}
	}

	c2 := dialPoolAs(t, ts, id, p.Addr().String(), PoolConfig{Size: 4})
	f := onlyFile(t, "second run", transferOf(Push, src, name, Options{}), c2)
	if f.State != Done {
		t.Fatalf("second run: got state %s (err %v), want done", f.State, f.Err)
	}
	t.Logf("second run: %d bytes sent", f.Bytes)
	if change {
		// The held ranges are of the old content: the
		// hash fails and the file is sent again whole.
		if f.Bytes < size {
			t.Errorf("second run: got %d bytes sent, want at least %d (sent again from zero)", f.Bytes, size)
		}
	} else if missing := size - durable; f.Bytes < missing || f.Bytes > missing+2<<20 {
		t.Errorf("second run: got %d bytes sent, want the %d the server lacked plus at most 2 MiB", f.Bytes, missing)
	}
	e.sameFile(t, name, want)
	if got, _ := e.meta(t, name); !got.mtime.Equal(m.MTime) || got.size != int64(m.Size) {
		t.Errorf("%s: got size %d mtime %v, want %d and %v", name, got.size, got.mtime, m.Size, m.MTime)
	}
	e.noPartials(t)
}

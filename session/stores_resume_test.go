package session

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

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

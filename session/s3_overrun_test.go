package session

import (
	"os"
	"testing"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// TestS3RangeOverrun sends a part-aligned range stream of a multipart
// file that carries one byte more than its header says: the part is not
// uploaded, the transfer fails with too_long, its upload is aborted (no
// object, upload or state object left), and the server goes on serving.
// TestPoolBadRange covers the same for a file of one part, on each store.
func TestS3RangeOverrun(t *testing.T) {
	ts, s3 := startS3(t, ServerConfig{})
	size := uint64(2*testPartSize + 7)
	p := dialRaw(t, ts)
	defer p.close()
	p.hello()
	p.send(&wire.Put{ID: 1, Path: "over.bin", Size: size, Mode: 0o644, MTime: fileTime(0)})
	expectAlign(t, p, 1)
	ws := p.openRange(1, 0, testPartSize)
	ws.Write(make([]byte, testPartSize+1))
	ws.Close()
	d := expectMsg[*wire.Done](p)
	if d.Code != CodeTooLong || d.Msg == "" {
		t.Errorf("got Done{Code: %v, Msg: %q}, want %v with a message", d.Code, d.Msg, CodeTooLong)
	}
	if _, err := os.Stat(objectPath(s3, "over.bin")); !os.IsNotExist(err) {
		t.Errorf("an object exists after an overrun range (%v)", err)
	}
	e := &storeEnv{ts: ts, s3: s3}
	e.noPartials(t)
	checkServes(t, ts)
}

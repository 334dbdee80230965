package xfer

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/quicvarint"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/session/internal/wire"
)

// loopback moves files from a Sender to a Receiver over a real QUIC
// connection on loopback UDP: the range streams go over QUIC, from the
// client (a pool of one Member) to the server; the Acks, the Seal and the
// verdict, which a session carries on its command channel, go through
// channels.
type loopback struct {
	t              *testing.T
	client, server *quic.Conn
	lanes          *Lanes

	// mu guards the following fields.
	mu        sync.Mutex
	receivers map[uint64]*Receiver          // by transfer id
	headers   map[uint64][]wire.RangeHeader // range stream headers received, by transfer id
}

// newLoopback connects a client to a server and starts accepting range
// streams on the server until the test ends, and checks then that no
// goroutine is left (testutil.LeakCheck). The context it returns, for
// the test's transfers, ends after 30 seconds or with the test.
func newLoopback(t *testing.T) (*loopback, context.Context) {
	t.Helper()
	testutil.LeakCheck(t)
	client, server := testutil.QUICPair(t, &quic.Config{MaxIncomingUniStreams: 64})
	lb := &loopback{t: t, client: client, server: server, lanes: NewLanes(),
		receivers: map[uint64]*Receiver{}, headers: map[uint64][]wire.RangeHeader{}}
	lb.lanes.Add(&Member{Conn: client, Primary: true})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { lb.accept(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	tctx, tcancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(tcancel)
	return lb, tctx
}

// accept hands every range stream to the Receiver of its transfer.
func (lb *loopback) accept(ctx context.Context) {
	for {
		rs, err := lb.server.AcceptUniStream(ctx)
		if err != nil {
			return
		}
		h, err := wire.ReadRangeHeader(quicvarint.NewReader(rs))
		if err != nil {
			// A stream the sender reset before its header arrived
			// (the transfer ended) is fine; a bad header is not.
			if se := (*quic.StreamError)(nil); !errors.As(err, &se) {
				lb.t.Errorf("range stream header: %v", err)
			}
			rs.CancelRead(quic.StreamErrorCode(wire.ProtocolViolation))
			continue
		}
		lb.mu.Lock()
		rc := lb.receivers[h.ID]
		if rc != nil {
			lb.headers[h.ID] = append(lb.headers[h.ID], h)
		}
		lb.mu.Unlock()
		if rc == nil {
			// A range that arrives after its transfer ended (the
			// sender stops it at once): a duplicate.
			rs.CancelRead(quic.StreamErrorCode(wire.UpToDate))
			continue
		}
		rc.Receive(ctx, rs, h)
	}
}

// received returns the headers of the range streams of transfer id.
func (lb *loopback) received(id uint64) []wire.RangeHeader {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return append([]wire.RangeHeader(nil), lb.headers[id]...)
}

// outcome is what became of one file.
type outcome struct {
	offer   Offer        // what the receiver offered
	verdict wire.Message // what Run returned
	sendErr error        // Run's error
	recvErr error        // the Receiver's Wait
	written int32        // calls of Run's written callback
	sent    int64        // bytes reported by the Sender's Progress
}

// run moves one file: it opens a Receiver with rcfg (its Ack is set
// here), runs a Sender with scfg (its Lanes and Seal are set here) against
// the receiver's offer, and returns once both have ended. A Sender that
// fails cancels the Receiver, which keeps its .part, as a session does. It
// may be called from several goroutines at once with different ids.
func (lb *loopback) run(ctx context.Context, id uint64, rcfg ReceiverConfig, scfg SenderConfig) outcome {
	return lb.runSeeded(ctx, id, rcfg, scfg, nil)
}

// runSeeded is run with seed (when not nil) called on the receiver once
// it is open: the offer is what seed returns (a delta's Seed).
func (lb *loopback) runSeeded(ctx context.Context, id uint64, rcfg ReceiverConfig, scfg SenderConfig, seed func(rc *Receiver) (Offer, error)) outcome {
	var o outcome
	msgs := make(chan wire.Message, 1024)
	seals := make(chan []byte, 1)
	rcfg.Ack = func(r wire.Range) {
		select {
		case msgs <- &wire.Ack{ID: id, Offset: r.Offset, Length: r.Length}:
		case <-ctx.Done():
		}
	}
	rc, offer, err := OpenReceiver(rcfg)
	if err == nil && seed != nil {
		offer, err = seed(rc)
	}
	if err != nil {
		o.recvErr = err
		return o
	}
	o.offer = offer
	lb.mu.Lock()
	lb.receivers[id] = rc
	lb.mu.Unlock()
	defer func() {
		lb.mu.Lock()
		delete(lb.receivers, id)
		lb.mu.Unlock()
	}()

	rctx, rcancel := context.WithCancelCause(ctx)
	defer rcancel(nil)
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case h := <-seals:
			rc.SetSeal(h)
		case <-rctx.Done():
		}
	})
	wg.Go(func() {
		o.recvErr = rc.Wait(rctx)
		done := &wire.Done{ID: id}
		if o.recvErr != nil {
			done.Code = codeOfErr(o.recvErr)
		}
		msgs <- done
	})

	var written atomic.Int32
	var sent atomic.Int64
	progress := scfg.Progress
	scfg.Progress = func(n int) {
		sent.Add(int64(n))
		if progress != nil {
			progress(n)
		}
	}
	scfg.ID, scfg.Lanes = id, lb.lanes
	scfg.Seal = func(h []byte) error {
		select {
		case seals <- h:
			return nil
		default:
			return Errorf(wire.ProtocolViolation, scfg.Path, "sealed twice")
		}
	}
	o.verdict, o.sendErr = NewSender(scfg).Run(ctx, offer, msgs, func() { written.Add(1) })
	if o.sendErr != nil {
		rcancel(&Error{Code: wire.Cancelled})
	}
	wg.Wait()
	o.written, o.sent = written.Load(), sent.Load()
	return o
}

// openTestSource writes size random bytes to src.bin in a temporary
// directory and opens it as a sender's source (named "src.bin"), closed
// when the test ends. It returns the file's path, its bytes, the open
// source and its metadata.
func openTestSource(t *testing.T, size int) (string, []byte, Source, FileMeta) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src.bin")
	data := testutil.WriteRandom(t, src, size)
	f, meta, err := OpenSource(LocalFS{}, src, "src.bin")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return src, data, f, meta
}

package xfer

import (
	"context"
	"slices"
	"sync"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// Range sizes over a pool: about 1024 ranges per file, between 256 KiB
// and 16 MiB each (on a lone connection, 16 MiB). Small ranges spread a
// file over many connections of a pool and keep the wait for the last ones
// short (at 1% loss and 50 ms one connection moves about 4 Mbit/s, so a
// 1 MiB range on a lane sharing it takes seconds); big ones keep the
// number of streams and acks down.
const (
	minRange = 256 << 10
	maxRange = 16 << 20
)

// rangeSize is the length of the ranges a size-byte file is cut into.
func rangeSize(size uint64) uint64 {
	return min(max(size/1024, minRange), maxRange)
}

// SenderConfig describes one outgoing file. Progress and Limit are
// optional.
type SenderConfig struct {
	ID    uint64   // the request id, carried by every range stream
	Path  string   // names the file in errors
	File  Source   // the source, open for reading (OpenSource)
	Meta  FileMeta // as stat'ed when the transfer was offered
	Lanes *Lanes   // the connections of the session's pool
	// Progress is called with the byte count of every chunk written to a
	// range stream (a range sent twice counts twice).
	Progress func(n int)
	Limit    *RateLimiter
	// Seal sends the whole-file hash (NewFileHash, wire.HashSize bytes;
	// for a Delta, that of its literal bytes) to the receiver; its error is
	// returned by Run as is (through AsError).
	Seal func(hash []byte) error
	// Ended, when closed, says the command channel is gone; EndErr says
	// why. Both nil on a side whose transfers end with the session's
	// context instead.
	Ended  <-chan struct{}
	EndErr func() error
	// Align, when not 0, is the receiver's part size (PartAlign): the
	// ranges are cut at its multiples, and at most Window of them are
	// written and not yet acked (0: one). 0 cuts the usual ranges with
	// no window.
	Align  uint64
	Window int
	// Delta says the receiver seeded a delta from our plan
	// (Receiver.Seed, a plan of at least one operation): the offer's
	// ranges were copied from its old version, chunk by chunk against
	// their BLAKE3, so no prefix hash is checked and no byte is hashed
	// as it is sent; once every range has been read once and the file
	// found unchanged (size, mtime: finishHash), the Seal carries the
	// file hash of the bytes outside the offer, read again in offset
	// order (literalSum; PROTOCOL.md, "Delta", "Verification").
	Delta bool
	// Chunks are the file's chunks as the delta's plan was cut
	// (StartChunker), in file order; with Delta, each chunk the Seal
	// hashes must still have its sum (else wire.SourceChanged).
	Chunks []Chunk
	// Eager says the file is sent without waiting for the receiver's
	// Accept (an eager push, PROTOCOL.md "Eager small files"): the
	// Accept then comes among the Acks. One saying the file is up to
	// date is the verdict; any other is passed over, the file being
	// sent whole (the offer was made with wire.FlagNoResume).
	Eager bool
}

// Sender sends one file as ranges: the ranges the receiver lacks, each on
// its own range stream on whichever connection of the pool has a free
// lane, and the whole-file hash in a Seal once the file has been read
// through and found unchanged. A range is done when the receiver acks it;
// ranges whose connection dies before their ack are sent again on
// another. A session on one connection is a pool of one: the same code
// runs whatever the pool size.
type Sender struct {
	cfg SenderConfig
	ph  prefixHash

	// unsent are the bytes a range attempt will still read (and offer to
	// ph); ph.mu guards it.
	unsent RangeSet
	// open counts the ranges given a lane and neither acked nor sent
	// back to the queue (Run's goroutine only), for SenderConfig.Window.
	open int
}

// NewSender prepares the sending of cfg.File.
func NewSender(cfg SenderConfig) *Sender {
	return &Sender{cfg: cfg}
}

type rangeState struct {
	r        wire.Range
	m        *Member // connection it was last sent on; nil when pending
	inFlight bool    // a goroutine is writing it
	acked    bool
	written  bool // written to a stream once (acked or not)
	held     bool // counted in m's unacked ranges
	tries    int  // attempts that failed on a live connection
}

// maxRangeTries bounds the attempts at a range that fail on a connection
// that stays up.
const maxRangeTries = 8

type rangeResult struct {
	i   int
	m   *Member
	err *Error
	// stream says err came from the range stream or its connection
	// rather than from reading our file.
	stream bool
}

// Run sends the ranges missing from the receiver's offer and the seal,
// and returns the receiver's verdict (a Done or Reject from msgs, the
// Acks being consumed on the way). When the offer holds a prefix from
// offset 0 with its hash, that prefix of our file is hashed first and
// compared: a mismatch (the partial belongs to another version of the
// source) fails with wire.HashMismatch before a byte is sent. written is called (once) when every range has been
// written to its stream, acked or not: the caller's slot for moving bytes
// can go to another file while this one waits for its acks and verdict.
// A local failure (the source changed or cannot be read, the session
// ended, ctx was cancelled) is returned as an *Error with a nil message.
func (sd *Sender) Run(ctx context.Context, offer Offer, msgs <-chan wire.Message, written func()) (wire.Message, error) {
	cfg := &sd.cfg
	size := cfg.Meta.Size
	held, ok := RangeSetOf(offer.Have, size)
	if !ok || len(offer.Have) > wire.MaxRanges {
		return nil, Errorf(wire.ProtocolViolation, cfg.Path, "receiver holds ranges outside the file")
	}
	sd.ph.init(0)
	if cfg.Delta {
		// Sealed by literalSum: no range offers its bytes to the hash.
		sd.ph.mu.Lock()
		sd.ph.n = size
		sd.ph.mu.Unlock()
	} else if p := held.Prefix(); p > 0 && offer.PrefixHash != nil {
		if err := sd.checkPrefix(p, offer.PrefixHash); err != nil {
			return nil, err
		}
	}
	states := []*rangeState{}
	byOffset := map[uint64]int{}
	chunk := rangeSize(size)
	if cfg.Lanes.Solo() && !cfg.Lanes.Growable() {
		// Alone on its connection a file gains nothing from small
		// ranges, and pays a stream, an ack and a lane hand-off for
		// each: 16 MiB ranges still let other files take turns. A
		// pool that may grow keeps the small ones, for the
		// connections that join while the file is sent.
		chunk = maxRange
	}
	ranges := split(held.Missing(size), chunk)
	if cfg.Align > 0 {
		ranges = splitAligned(held.Missing(size), cfg.Align)
	}
	for i, r := range ranges {
		states = append(states, &rangeState{r: r})
		byOffset[r.Offset] = i
		sd.unsent.Add(r.Offset, r.Length)
	}
	pending := make([]int, len(states))
	for i := range pending {
		pending[i] = i
	}
	unacked, unwritten := len(states), len(states)

	wctx, wcancel := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	results := make(chan rangeResult, len(states))
	grant := make(chan *Member, 1) // a lane from Lanes.Request
	defer func() {
		// Stop the ranges still being written and give their lanes
		// back: the other transfers of the session need them.
		wcancel(&Error{Code: wire.UpToDate})
		cfg.Lanes.Leave(sd)
		select {
		case m := <-grant: // granted after the last look
			cfg.Lanes.Release(m)
		default:
		}
		wg.Wait()
		for {
			select {
			case res := <-results:
				cfg.Lanes.Release(res.m)
			default:
				for _, st := range states {
					sd.unhold(st)
				}
				return
			}
		}
	}()
	// The whole-file hash: range senders hash what they read when it is
	// next in line. A catch-up hasher starts only when the next bytes
	// will not be offered (held by the receiver, or sent out of order);
	// a file sent in order is sealed here, with no goroutine.
	hashed := make(chan hashResult, 1)
	sealed, hashing := false, false
	checkHash := func() error {
		if sealed || hashing {
			return nil
		}
		if cfg.Delta {
			// The Seal waits for every range to be read once, so
			// that the file is found unchanged after those reads.
			sd.ph.mu.Lock()
			reading := sd.unsent.Total() > 0
			sd.ph.mu.Unlock()
			if reading {
				return nil
			}
			sealed = true
			h := sd.deltaSum(held)
			if h.err != nil {
				return h.err
			}
			if err := cfg.Seal(h.sum); err != nil {
				return WithPath(AsError(err, cfg.Path), cfg.Path)
			}
			return nil
		}
		sd.ph.mu.Lock()
		n := sd.ph.n
		waiting := n < size && sd.unsent.Contains(n)
		sd.ph.mu.Unlock()
		switch {
		case n == size:
			sealed = true
			h := sd.finishHash()
			if h.err != nil {
				return h.err
			}
			if err := cfg.Seal(h.sum); err != nil {
				return WithPath(AsError(err, cfg.Path), cfg.Path)
			}
		case !waiting:
			hashing = true
			wg.Go(func() { hashed <- sd.hashFile(wctx) })
		}
		return nil
	}
	if err := checkHash(); err != nil {
		return nil, err
	}

	requested := false
	inFlight := 0 // ranges being written
	notified := false
	notify := func() {
		if unwritten == 0 && !notified {
			notified = true
			if written != nil {
				written()
			}
		}
	}
	notify()
	var seen <-chan struct{} // the Lanes' signal last looked at
	for {
		// A connection came, went or died since the last look
		// (perhaps while another case ran, so the signal closed a
		// channel no select was watching): ranges held on a dead
		// connection go back to the queue.
		changed := cfg.Lanes.Wait()
		if changed != seen {
			seen = changed
			for i, st := range states {
				if !st.acked && !st.inFlight && st.m != nil && st.m.Dead() {
					sd.requeue(st, &pending, i)
				}
			}
		}
		for len(pending) > 0 && states[pending[0]].acked {
			pending = pending[1:] // acked while it waited to be sent again
		}
		if len(pending) > 0 && !requested && (inFlight == 0 || !cfg.Lanes.Solo()) && sd.windowOpen() {
			requested = true
			cfg.Lanes.Request(sd, grant)
		}
		select {
		case m := <-grant:
			requested = false
			if len(pending) == 0 {
				cfg.Lanes.Release(m) // its range was acked meanwhile
				continue
			}
			i := pending[0]
			pending = pending[1:]
			st := states[i]
			st.m, st.inFlight = m, true
			inFlight++
			sd.open++
			wg.Go(func() {
				err, stream := sd.sendRange(wctx, m, st.r)
				results <- rangeResult{i: i, m: m, err: err, stream: stream}
			})
		case msg := <-msgs:
			switch m := msg.(type) {
			case *wire.Ack:
				i, ok := byOffset[m.Offset]
				if ok && states[i].r.Length == m.Length && !states[i].acked {
					if states[i].m != nil {
						sd.open--
					}
					states[i].acked = true
					sd.unhold(states[i])
					unacked--
				}
			case *wire.Done, *wire.Reject:
				return msg, nil
			case *wire.Accept:
				if !cfg.Eager {
					return nil, Errorf(wire.ProtocolViolation, cfg.Path, "unexpected %s", msg.Type())
				}
				if m.Flags&wire.AcceptUpToDate != 0 {
					return msg, nil
				}
			default:
				return nil, Errorf(wire.ProtocolViolation, cfg.Path, "unexpected %s", msg.Type())
			}
		case res := <-results:
			cfg.Lanes.Release(res.m)
			st := states[res.i]
			st.inFlight = false
			inFlight--
			switch {
			case st.acked:
			case res.err == nil && res.m.Dead():
				// Written, but its connection died before the
				// ack could come (its signal may have been seen
				// while the range was in flight).
				if !st.written {
					st.written = true
					unwritten--
				}
				sd.requeue(st, &pending, res.i)
			case res.err == nil:
				cfg.Lanes.Hold(res.m)
				st.held = true
				if !st.written {
					st.written = true
					unwritten--
				}
			case ctx.Err() != nil:
				return nil, WithPath(CauseError(ctx), cfg.Path)
			case !res.stream:
				return nil, res.err // our file: changed or unreadable
			case res.m.Dead():
				sd.requeue(st, &pending, res.i)
			case res.err.Remote && !isConnClose(res.err):
				// The receiver stopped the stream: a duplicate
				// (up_to_date) or a failure it reports with its Done.
			default:
				// The stream failed on a connection still up.
				st.tries++
				if st.tries >= maxRangeTries {
					return nil, res.err
				}
				sd.requeue(st, &pending, res.i)
			}
			notify()
			if err := checkHash(); err != nil {
				return nil, err
			}
		case <-changed:
			// The next turn of the loop looks at the connections.
		case h := <-hashed:
			sealed = true
			if h.err != nil {
				return nil, h.err
			}
			if err := cfg.Seal(h.sum); err != nil {
				return nil, WithPath(AsError(err, cfg.Path), cfg.Path)
			}
		case <-ctx.Done():
			return nil, WithPath(CauseError(ctx), cfg.Path)
		case <-cfg.Ended:
			return nil, WithPath(AsError(cfg.EndErr(), cfg.Path), cfg.Path)
		}
	}
}

// requeue puts a range whose connection died back in the queue. Its
// bytes stay counted: progress counts bytes sent, and a range sent twice
// is sent twice.
func (sd *Sender) requeue(st *rangeState, pending *[]int, i int) {
	sd.unhold(st)
	if st.m != nil {
		sd.open--
	}
	st.m = nil
	*pending = append(*pending, i)
	if sd.cfg.Align > 0 {
		// Lowest offset first: a later part must not take the
		// receiver's window before it (PROTOCOL.md, "Part-aligned
		// pushes").
		slices.Sort(*pending)
	}
}

// unhold takes st out of its connection's unacked count.
func (sd *Sender) unhold(st *rangeState) {
	if st.held {
		st.held = false
		sd.cfg.Lanes.Unhold(st.m)
	}
}

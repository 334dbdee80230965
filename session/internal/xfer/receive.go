package xfer

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"slices"
	"sync"

	"github.com/quic-go/quic-go"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// ReceiverConfig describes one incoming file. Every field but Root, Path
// and Meta is optional.
type ReceiverConfig struct {
	Root *os.Root // the destination tree
	Path string   // clean destination path under Root
	Meta FileMeta // the source's size, mode and mtime, as offered
	// NoResume ignores a partial file and starts over.
	NoResume bool
	// Prior is what the caller's own LoadRecord of Path found, when it
	// has read the record already (a client pull offers its ranges before
	// it opens the receiver): OpenReceiver then does not read it again.
	// Nil: OpenReceiver reads it, unless NoResume.
	Prior *PriorRecord
	// Ack tells the sender a range has been written.
	Ack func(r wire.Range)
	// Progress is called with the byte count of every chunk written.
	Progress func(n int)
	// Limit paces the reads.
	Limit *RateLimiter
	// Dirs (optional) holds the destination's directories open for the
	// session: the receiver works in the parent of Path through it, with
	// no path walk per system call. Nil: every call walks Path from Root.
	Dirs *KnownDirs
	// Sync (optional) makes a file of up to groupSyncMax bytes durable
	// in a group with others, before its rename; nil: an fsync of its
	// own.
	Sync *GroupSync
}

// PriorRecord is the result of a LoadRecord: the record, and whether no
// record file existed at all.
type PriorRecord struct {
	Record *Record
	Absent bool
}

// Receiver assembles one file: range streams, on any connection of the
// pool and in any order, write their bytes at their offsets into one
// preallocated .part; a Seal brings the whole-file hash. The hash follows
// the contiguous prefix as it grows: bytes written in order are hashed as
// they are written, the others are read back. When every byte is there
// and the Seal has come, the hash is checked and the .part renamed (a
// .part seeded by a delta is checked by its chunks and the BLAKE3 of the
// bytes sent instead: Seed). Which ranges are durable is recorded beside
// the .part (Record), so an interrupted file resumes with exactly the
// ranges it lacks, whatever the pool size of either transfer.
type Receiver struct {
	cfg ReceiverConfig
	f   *os.File
	// The destination's directory and its name there: Path's parent
	// (from cfg.Dirs) and base name, or Root and Path.
	d    *Dir // nil without cfg.Dirs
	dir  *os.Root
	name string
	wg   sync.WaitGroup // range stream goroutines, the hasher, checkpoints

	// prefilled is how many bytes of the old version SignPrefilled
	// wrote into the .part at their own offsets, from offset 0 on.
	prefilled uint64

	ckpt sync.Mutex // one checkpoint at a time
	// recorded says a record file may exist (one was there, or a
	// checkpoint wrote one): only then is there one to remove.
	recorded bool

	// ph.mu guards the following fields; ph.changed signals their moves.
	ph   prefixHash
	have RangeSet // written (not necessarily durable)
	// whole is written and closed: ranges held from before, and ranges
	// whose stream ended exactly at their length. Only these complete the
	// file, so a stream that runs long is caught before the rename.
	whole    RangeSet
	durable  RangeSet // covered by the last checkpoint
	unsynced uint64   // bytes written since the last checkpoint
	seal     []byte
	err      *Error // a fatal error: the transfer fails
	ended    bool   // no new streams; the hasher stops
	streams  map[*quic.ReceiveStream]struct{}
	// claim is how far the catch-up hasher may have read: a write below
	// it, or below ph.n, rewrites bytes already hashed (a range sent
	// twice), so rehash makes the end hash the whole file again.
	claim  uint64
	rehash bool
	// delta says Seed seeded the .part from a delta plan: no file hash
	// follows its bytes, and finish checks the Seal against the file
	// hash of the bytes outside deltaHave, the offer (delta_seal.go).
	delta     bool
	deltaHave RangeSet
}

// Offer is what a receiver offers the sender: the ranges it holds, and
// the file hash of the first of them when it starts at offset 0 (nil
// otherwise, and after a delta's Seed), for the sender to check against
// its file.
type Offer struct {
	Have       []wire.Range
	PrefixHash []byte
}

// OpenReceiver prepares the .part of cfg.Path and returns what it already
// holds: the ranges of a matching resume record (Record.Offer), or none
// when starting over, in which case the .part is recreated at full size
// (preallocated, so a full disk fails now rather than mid-file). The
// error is an *Error.
func OpenReceiver(cfg ReceiverConfig) (*Receiver, Offer, error) {
	rc := &Receiver{cfg: cfg, streams: map[*quic.ReceiveStream]struct{}{}}
	rc.ph.init(0)
	if err := rc.openDir(); err != nil {
		return nil, Offer{}, err
	}
	opened := false
	defer func() {
		if !opened {
			rc.releaseDir()
		}
	}()
	root, p, meta := rc.dir, rc.name, cfg.Meta
	part := PartName(p)
	var prior PriorRecord
	switch {
	case cfg.Prior != nil:
		prior = *cfg.Prior
	case !cfg.NoResume:
		prior.Record, prior.Absent = LoadRecord(root, p)
	}
	absent := prior.Absent
	raced := false // another process renamed the .part meanwhile
	if rec := prior.Record; !cfg.NoResume {
		if rec.Matches(meta) {
			f, err := root.OpenFile(part, os.O_RDWR, 0o600)
			if err == nil {
				err = rc.locked(f)
				if err != nil {
					f.Close()
				}
				if err != nil && !errors.Is(err, errRenamed) {
					return nil, Offer{}, err
				}
				raced = err != nil
			}
			// The record was read before the lock: if the process
			// that held it changed the .part since, the whole-file
			// hash still catches it (HashMismatch, then a retry from
			// zero), so a stale record never yields a spliced file.
			if err == nil {
				rc.f, rc.recorded = f, true
				rec.HashPrefix(f)
				have, prefix := rec.Offer()
				rc.have, _ = RangeSetOf(have, meta.Size)
				rc.durable = rc.have.Clone()
				rc.whole = rc.have.Clone()
				if fi, err := f.Stat(); err == nil && uint64(fi.Size()) != meta.Size {
					// A version 1 .part is as long as its prefix.
					if err := preallocate(f, int64(meta.Size), false); err != nil {
						f.Close()
						return nil, Offer{}, AsError(err, cfg.Path)
					}
				}
				opened = true
				return rc, Offer{Have: have, PrefixHash: prefix}, nil
			}
		}
	}
	// Starting over: the .part is locked before anything is touched;
	// then the record goes, so it never describes bytes that were
	// replaced, and the .part is emptied.
	f, created, err := rc.openPart()
	if err != nil {
		return nil, Offer{}, err
	}
	if (!created || raced) && destCurrent(root, p, meta) {
		// Another process held the .part and has finished the file.
		f.Close()
		return nil, Offer{}, UpToDate(cfg.Path)
	}
	// A .part that was there may belong to a transfer that stopped after
	// our record was read: its record goes too.
	if !absent || !created {
		if err := root.Remove(RecordName(p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			f.Close()
			return nil, Offer{}, AsError(err, cfg.Path)
		}
	}
	// A .part this receiver created is empty already.
	if !created {
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, Offer{}, AsError(err, cfg.Path)
		}
	}
	if err := preallocate(f, int64(meta.Size), true); err != nil {
		f.Close()
		root.Remove(part)
		return nil, Offer{}, AsError(err, cfg.Path)
	}
	rc.f = f
	opened = true
	return rc, Offer{}, nil
}

// openPart opens (creating it if needed) and locks the .part for a
// transfer that starts over, and says whether it created it.
func (rc *Receiver) openPart() (f *os.File, created bool, err error) {
	root, p, part := rc.dir, rc.cfg.Path, PartName(rc.name)
	for try := 0; ; try++ {
		f, err = createExcl(rc.d, root, part, part)
		created = err == nil
		if errors.Is(err, fs.ErrExist) {
			f, err = root.OpenFile(part, os.O_RDWR, 0o600)
		}
		if err != nil {
			return nil, false, AsError(err, p)
		}
		err = rc.locked(f)
		if err == nil {
			return f, created, nil
		}
		f.Close()
		if !errors.Is(err, errRenamed) || try > 0 {
			return nil, false, AsError(err, p)
		}
		// Its holder renamed the .part into place after we opened it:
		// that is a finished file, and a new .part is made.
	}
}

// openDir finds the directory the receiver works in (see Receiver.d).
func (rc *Receiver) openDir() error {
	if rc.cfg.Dirs == nil {
		rc.dir, rc.name = rc.cfg.Root, rc.cfg.Path
		return nil
	}
	dir, name := splitDir(rc.cfg.Path)
	d, err := rc.cfg.Dirs.Open(rc.cfg.Root, dir, false)
	if err != nil {
		return WithPath(AsError(err, rc.cfg.Path), rc.cfg.Path)
	}
	rc.d, rc.dir, rc.name = d, d.Root, name
	return nil
}

// releaseDir gives the directory back, once.
func (rc *Receiver) releaseDir() {
	if d := rc.d; d != nil {
		rc.d = nil
		rc.cfg.Dirs.Release(d)
	}
}

// destCurrent reports whether the destination p already holds the file
// m describes (size and mtime, CheckDest's quick check).
func destCurrent(root *os.Root, p string, m FileMeta) bool {
	fi, err := root.Lstat(p)
	return err == nil && fi.Mode().IsRegular() && uint64(fi.Size()) == m.Size && fi.ModTime().Equal(m.MTime)
}

// errRenamed says a .part was renamed into place by the process that
// held its lock, between our open and our lock.
var errRenamed = errors.New("the partial file was renamed meanwhile")

// locked takes the receiver's lock on f, the .part it opened (see
// lockPart), and checks that f is still the .part: errRenamed if its
// previous holder renamed it into place meanwhile.
func (rc *Receiver) locked(f *os.File) error {
	p := rc.cfg.Path
	if err := lockPart(f, p); err != nil {
		return err
	}
	if !stillNamed(rc.dir, PartName(rc.name), f) {
		return errRenamed
	}
	return nil
}

// Fail records a fatal error; Wait returns it.
func (rc *Receiver) Fail(e *Error) {
	rc.ph.mu.Lock()
	defer rc.ph.mu.Unlock()
	if rc.err == nil {
		rc.err = WithPath(e, rc.cfg.Path)
		rc.ph.signalLocked()
	}
}

// SetSeal records the sender's Seal: the file hash (NewFileHash,
// wire.HashSize bytes) of the whole file, or after a delta's Seed of the
// bytes outside the offer.
func (rc *Receiver) SetSeal(h []byte) {
	rc.ph.mu.Lock()
	defer rc.ph.mu.Unlock()
	if rc.seal == nil {
		rc.seal = h
		rc.ph.signalLocked()
	}
}

// checkpoint makes the bytes written so far durable and records their
// ranges: the ranges are taken before the fsync, so the record never
// claims a byte the disk may not hold. It is best effort: a failed
// checkpoint only means a later resume starts with less.
func (rc *Receiver) checkpoint() {
	rc.ckpt.Lock()
	defer rc.ckpt.Unlock()
	rc.ph.mu.Lock()
	have := rc.have.Ranges()
	same := slices.Equal(have, rc.durable.r)
	hashed, sum := rc.ph.n, rc.ph.h.Sum(nil)
	if rc.rehash || rc.delta {
		// The hash may hold bytes since rewritten, or (a delta) follows
		// none: a resume hashes the prefix it offers (OpenReceiver).
		hashed, sum = 0, nil
	}
	rc.ph.mu.Unlock()
	if same || len(have) > wire.MaxRanges {
		return
	}
	if rc.f.Sync() != nil {
		return
	}
	meta := rc.cfg.Meta
	rc.recorded = true
	if SaveRecord(rc.dir, rc.name, newRecord(meta, have, hashed, sum)) == nil {
		rc.ph.mu.Lock()
		rc.durable, _ = RangeSetOf(have, meta.Size)
		rc.ph.mu.Unlock()
	}
}

// stopStreams stops every range stream still running and waits for the
// goroutines of rc; no stream starts afterwards.
func (rc *Receiver) stopStreams(code ErrorCode) {
	rc.ph.mu.Lock()
	rc.ended = true
	for rs := range rc.streams {
		rs.CancelRead(quic.StreamErrorCode(code))
	}
	rc.ph.signalLocked() // wakes the hasher
	rc.ph.mu.Unlock()
	rc.wg.Wait()
}

// Abandon stops the transfer without finishing it: the range streams are
// stopped with code, the .part and its record stay for a later resume.
func (rc *Receiver) Abandon(code ErrorCode) {
	rc.stopStreams(code)
	rc.f.Close()
	rc.releaseDir()
}

// hashAlong reads back and hashes the bytes of the contiguous prefix that
// were not hashed as they were written (they came out of order), until
// the receiver ends. It runs in rc.wg.
func (rc *Receiver) hashAlong() {
	var chunk lazyChunk // taken on the first read-back
	defer chunk.release()
	for {
		rc.ph.mu.Lock()
		if rc.ended {
			rc.ph.mu.Unlock()
			return
		}
		target, from, ch := rc.have.Prefix(), rc.ph.n, rc.ph.changed
		if target <= from {
			rc.ph.mu.Unlock()
			<-ch
			continue
		}
		rc.claim = max(rc.claim, target)
		rc.ph.mu.Unlock()
		buf := chunk.get()
		k := min(uint64(len(buf)), target-from)
		got, err := rc.f.ReadAt(buf[:k], int64(from))
		rc.ph.mu.Lock()
		if uint64(got) < k && err != nil {
			rc.rehash = true // the end hashes it all again
			rc.ph.mu.Unlock()
			return
		}
		rc.ph.offerLocked(from, buf[:k])
		rc.ph.mu.Unlock()
	}
}

// Wait blocks until the file is complete and sealed, a fatal error, or ctx
// ends; then it finishes: verify and rename, or checkpoint and keep the
// .part for a resume (removing it when its content is known bad). The
// error is an *Error.
func (rc *Receiver) Wait(ctx context.Context) error {
	defer rc.releaseDir()
	size := rc.cfg.Meta.Size
	hashing := false
	for {
		rc.ph.mu.Lock()
		done := rc.whole.Covers(size) && rc.seal != nil
		ferr := rc.err
		ch := rc.ph.changed
		// The read-back hasher starts only once bytes were written out
		// of order (or held from before): in-order bytes are hashed as
		// they are written.
		readBack := !hashing && !rc.delta && rc.have.Prefix() > rc.ph.n && !rc.ended
		rc.ph.mu.Unlock()
		if readBack {
			hashing = true
			rc.wg.Go(rc.hashAlong)
		}
		if ferr != nil {
			rc.stopStreams(ferr.Code)
			rc.keepIfResumable(ferr.Code)
			return ferr
		}
		if done {
			// Ranges still arriving are duplicates of bytes already
			// written (sent again after a connection looked dead).
			rc.stopStreams(wire.UpToDate)
			return rc.finish()
		}
		select {
		case <-ch:
		case <-ctx.Done():
			e := CauseError(ctx)
			rc.stopStreams(e.Code)
			rc.keepIfResumable(e.Code)
			return WithPath(e, rc.cfg.Path)
		}
	}
}

// keepIfResumable ends a transfer that failed with code: a partial file
// is kept only while a later transfer can resume it. It is removed, with
// its record, when the failure says its bytes can never be used (see
// discardCodes), or when no record describes any durable byte of it (a
// .part with no record is resumed by nothing, and its preallocated
// blocks would hold the space the next file needs). Otherwise the bytes
// written are checkpointed and both stay.
func (rc *Receiver) keepIfResumable(code ErrorCode) {
	if discardCodes[code] {
		rc.f.Close()
		rc.removePartial()
		return
	}
	rc.checkpoint()
	rc.f.Close()
	rc.ph.mu.Lock()
	held := rc.durable.Total()
	rc.ph.mu.Unlock()
	if held == 0 {
		rc.removePartial()
	}
}

// discardCodes are the failures after which a partial file is never
// resumed: its source is no longer the version the bytes came from
// (source_changed, hash_mismatch: a resume would be refused; bad_delta:
// the delta's base changed under the seeding copy), a stream
// wrote more than its range (too_long: bytes beyond it are suspect), or
// the disk is full (no_space: the space it holds must go to the next
// file). After any other failure (a cancel, an interrupt, a lost
// connection, a shutdown, a stream that ended early) the same file is
// expected again, and what was durably written resumes.
var discardCodes = map[ErrorCode]bool{
	wire.BadDelta:      true, // bytes seeded from a base that changed
	wire.SourceChanged: true,
	wire.HashMismatch:  true,
	wire.TooLong:       true,
	wire.NoSpace:       true,
}

func (rc *Receiver) removePartial() {
	rc.dir.Remove(PartName(rc.name))
	if rc.recorded {
		rc.dir.Remove(RecordName(rc.name))
	}
}

// sum completes the hash the Seal is checked against: the file hash of
// the whole .part, of which the bytes not hashed yet are read back, or,
// after a delta, that of the bytes outside the offer
// (literalSum). The stream goroutines and the hasher have ended: no
// lock is needed.
func (rc *Receiver) sum() ([]byte, error) {
	var buf lazyChunk
	defer buf.release()
	size := rc.cfg.Meta.Size
	if rc.delta {
		return literalSum(rc.f, rc.deltaHave, size, nil, buf.get())
	}
	h, from := rc.ph.h, rc.ph.n
	if rc.rehash {
		rc.ph.init(0)
		h, from = rc.ph.h, 0
	}
	if size-from >= earlySyncMin {
		// Much is left to hash (a resume of a delta's .part, most of
		// the file): the data is flushed to the disk meanwhile, so the
		// disk's time and the hash's CPU overlap; the fsync of finish
		// then has only what changed since (mode, times) to write.
		synced := make(chan struct{})
		go func() {
			defer close(synced)
			_ = rc.f.Sync()
		}()
		defer func() { <-synced }()
	}
	// In chunks of ChunkSize rather than io.Copy's 32 KiB: this may be
	// most of the file read back.
	if from < size {
		if err := hashRange(rc.f, from, size-from, h, buf.get()); err != nil {
			return nil, err
		}
	}
	return h.Sum(nil), nil
}

// earlySyncMin is the fewest bytes, read back and hashed by finish, for
// which finish starts flushing the .part to the disk while it hashes. (A
// variable only so that tests can make it small.)
var earlySyncMin uint64 = 64 << 20

// finish completes the hash of the assembled .part, compares it with the
// seal, and renames the .part over the destination.
func (rc *Receiver) finish() error {
	p, meta := rc.cfg.Path, rc.cfg.Meta
	closed := false
	defer func() {
		if !closed {
			rc.f.Close()
		}
	}()
	sum, err := rc.sum()
	if err != nil {
		return AsError(err, p)
	}
	if !bytes.Equal(sum, rc.seal) {
		rc.f.Close()
		closed = true
		rc.removePartial()
		what := "sha-256 of the received file"
		if rc.delta {
			what = "blake3 of the delta's literal bytes"
		}
		return Errorf(wire.HashMismatch, p, "%s %x does not match the sender's %x", what, sum[:8], rc.seal[:min(8, len(rc.seal))])
	}
	// Mode and times are best effort: some file systems (and Windows)
	// refuse parts of them, which must not fail a verified file.
	_ = rc.f.Chmod(meta.Mode.Perm())
	if mtimeSetOnOpen {
		_ = setFileMTime(rc.f, meta.MTime)
	}
	sync := rc.f.Sync
	if meta.Size <= groupSyncMax && rc.cfg.Sync != nil {
		sync = func() error { return rc.cfg.Sync.Sync(rc.f) }
	}
	if err := sync(); err != nil {
		return AsError(err, p)
	}
	// The .part stays open, and locked, until it is renamed and its
	// record removed, so another process never takes a .part that is
	// about to become the file (except on Windows, where an open file
	// cannot be renamed).
	if closeBeforeRename {
		closed = true
		if err := rc.f.Close(); err != nil {
			return AsError(err, p)
		}
	}
	part := PartName(rc.name)
	if !mtimeSetOnOpen {
		_ = SetMTime(rc.dir, part, meta.MTime)
	}
	// The rename alone resolves the directory from the root again: a
	// directory swapped for a symlink since it was opened is refused
	// here, as os.Root refuses it, rather than written through.
	if err := renamePart(rc.cfg.Root, rc.cfg.Dirs, p); err != nil {
		return AsError(err, p)
	}
	if rc.recorded {
		rc.dir.Remove(RecordName(rc.name))
	}
	if !closed {
		closed = true
		if err := rc.f.Close(); err != nil {
			return AsError(err, p)
		}
	}
	return nil
}

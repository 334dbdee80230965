package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-runewidth"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/qxfer/qxfer/session"
)

// pollEvery is how often a running batch reads the byte counts of its
// live transfers.
const pollEvery = 150 * time.Millisecond

// jsonProgressEvery bounds the JSON progress events of one file.
const jsonProgressEvery = 500 * time.Millisecond

// view shows a running batch. Its methods are called with batch.mu held,
// so one view sees one event at a time.
type view interface {
	// plan: the batch's files are known; none has started.
	plan(files []session.TransferInfo)
	// found: more files of a streamed batch (session.Options.Found),
	// none of them started; more is false once every file is known.
	found(files []session.TransferInfo, more bool)
	// update: byte counts of the live transfers (ended ones included
	// until the table drops them).
	update(live []session.TransferInfo, now time.Time)
	// ended: a file reached its final state.
	ended(ti session.TransferInfo)
	// close: the batch is over; nothing is called after it.
	close()
}

// batch shows one push or pull while it runs: progress bars on a terminal,
// JSON events with --json, nothing otherwise. It learns the files from
// Options.Plan and their ends from Options.Observer, and polls the transfer
// table for byte counts in a goroutine it owns.
type batch struct {
	e     *env
	table *session.Table
	json  *jsonStream // with --json
	cmd   string

	stop chan struct{}
	wg   sync.WaitGroup

	// mu guards the following fields.
	mu      sync.Mutex
	v       view // nil: nothing to show
	planned bool
	closed  bool
}

// startBatch prepares the display of a push or pull (cmd) to host on
// session c.
func startBatch(e *env, c *session.Session, cmd, host string) *batch {
	b := &batch{e: e, table: c.Transfers(), cmd: cmd, stop: make(chan struct{})}
	switch {
	case e.json:
		b.json = newJSONStream(e.stdout)
		b.v = &jsonView{s: b.json, cmd: cmd, host: host, last: map[uint64]jsonMark{}}
		e.hook.set(b.json.connEvent)
	case !e.quiet && isTerminal(e.stderr):
		bv := newBarView(e.stderr.(*os.File))
		b.v = bv
		if e.noteW != nil {
			e.noteW.setAbove(bv.p)
		}
	}
	if b.v != nil {
		b.wg.Go(b.poll)
	}
	return b
}

// isTerminal reports whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// options returns o with the batch's Plan and Observer.
func (b *batch) options(o session.Options) session.Options {
	if b.v == nil {
		return o
	}
	o.Plan = b.plan
	o.Found = b.found
	o.Observer = b.observe
	return o
}

// found takes the files of a streamed batch as its walk finds them.
func (b *batch) found(files []session.TransferInfo, more bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.planned = true
	b.v.found(files, more)
}

func (b *batch) plan(files []session.TransferInfo) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.planned || b.closed {
		return // a pull retried after a reconnect lists its files again
	}
	b.planned = true
	b.v.plan(files)
}

func (b *batch) observe(ti session.TransferInfo) {
	if !ti.State.Ended() {
		return // starts are seen by polling
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.planned && !b.closed {
		b.v.ended(ti)
	}
}

// poll feeds the view the live byte counts until close.
func (b *batch) poll() {
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case now := <-t.C:
			live := b.table.Snapshot()
			b.mu.Lock()
			if b.planned && !b.closed {
				b.v.update(live, now)
			}
			b.mu.Unlock()
		}
	}
}

// close stops polling, waits for the poller, and takes the bars down (the
// total bar stays on screen in its final state). Messages go to stderr
// again.
func (b *batch) close() {
	close(b.stop)
	b.wg.Wait()
	if b.e.noteW != nil {
		b.e.noteW.setAbove(nil)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.v != nil && !b.closed {
		b.v.close()
	}
	b.closed = true
}

// summary writes the JSON summary event (with --json). rep is nil when
// the batch could not run; err is what the command returns.
func (b *batch) summary(rep *session.Report, st session.SessionStats, err error) {
	if b.json == nil {
		return
	}
	code := exitOK
	if err != nil {
		code = exitCode(err)
	}
	b.json.summary(b.cmd, rep, st, code, err)
	b.e.hook.set(nil)
}

// jsonMark is the last progress event of one file.
type jsonMark struct {
	at    time.Time
	bytes int64
}

// jsonView writes start, progress and file events.
type jsonView struct {
	s         *jsonStream
	cmd, host string
	last      map[uint64]jsonMark // files that have had a progress event
	started   bool                // the start event is out
}

func (v *jsonView) plan(files []session.TransferInfo) {
	v.found(files, false)
}

// found writes the start event at the first call: for a streamed batch
// whose walk goes on (more), its files and bytes are those found so far
// and "more" is set.
func (v *jsonView) found(files []session.TransferInfo, more bool) {
	if v.started {
		return
	}
	v.started = true
	var total int64
	for _, f := range files {
		total += f.Size
	}
	v.s.emit(startEvent{jsonHead: head(evStart, time.Now()), Command: v.cmd, Host: v.host, Files: len(files), Bytes: total, More: more})
}

func (v *jsonView) update(live []session.TransferInfo, now time.Time) {
	for _, ti := range live {
		if ti.State != session.Running {
			continue
		}
		m, seen := v.last[ti.ID]
		if seen && (ti.Bytes == m.bytes || now.Sub(m.at) < jsonProgressEvery) {
			continue
		}
		v.last[ti.ID] = jsonMark{at: now, bytes: ti.Bytes}
		v.s.progress(ti, now)
	}
}

func (v *jsonView) ended(ti session.TransferInfo) {
	if m, seen := v.last[ti.ID]; seen {
		delete(v.last, ti.ID)
		if m.bytes != ti.Bytes {
			v.s.progress(ti, time.Now())
		}
	}
	v.s.fileEnded(ti)
}

func (v *jsonView) close() {}

// Bars shown at most besides the total, whatever the terminal's height.
const maxFileBars = 8

// rateWindow is the span over which bars measure their rate.
const rateWindow = 3 * time.Second

// barView draws one bar per running file (up to maxFileBars) and a total
// bar, on stderr. The total bar counts the files done or up to date out of
// all, and the bytes moved out of those to move.
type barView struct {
	p     *mpb.Progress
	total *mpb.Bar
	tm    *meter // the total bar's rate
	rows  int    // file bars the terminal has room for

	files   atomic.Int64 // read by the total bar's decorator
	done    atomic.Int64
	walking atomic.Bool // a streamed batch's walk has not ended: files is not the total yet

	planned  bool
	sizes    map[uint64]int64 // planned size of every file that has not ended
	bars     map[uint64]*fileBar
	endBytes int64 // bytes moved by ended files
	size     int64 // total bar's total: planned sizes of live files plus bytes of ended ones
	cur      int64 // total bar's current

	restoreEcho func() // gives the terminal its control-character echo back
}

// fileBar is the bar of one running file.
type fileBar struct {
	bar *mpb.Bar
	m   *meter
	cur int64
}

func newBarView(w *os.File) *barView {
	v := &barView{
		sizes: map[uint64]int64{}, bars: map[uint64]*fileBar{},
		rows: maxFileBars, tm: newMeter(time.Now(), 0), restoreEcho: quietControlEcho(w),
	}
	if _, h, err := term.GetSize(int(w.Fd())); err == nil {
		v.rows = max(0, min(maxFileBars, h-2))
	}
	// The context is not the command's: after Ctrl-C the bars still end
	// cleanly before the summary. The bars are only made for a terminal;
	// WithAutoRefresh lets a test draw them into a file too.
	v.p = mpb.NewWithContext(context.Background(), mpb.WithOutput(w), mpb.WithRefreshRate(pollEvery), mpb.WithAutoRefresh())
	v.total = v.p.New(0, barStyle(),
		mpb.BarPriority(math.MaxInt32), // always the bottom line
		mpb.PrependDecorators(
			decor.Name("total", decor.WC{W: 6, C: decor.DindentRight}),
			decor.Any(func(decor.Statistics) string {
				more := ""
				if v.walking.Load() {
					more = "+" // the walk goes on
				}
				return fmt.Sprintf("%d/%d%s files", v.done.Load(), v.files.Load(), more)
			}, decor.WC{W: 16, C: decor.DindentRight}),
		),
		mpb.AppendDecorators(
			decor.Any(func(s decor.Statistics) string {
				return humanBytes(s.Current) + " / " + humanBytes(s.Total)
			}, decor.WC{W: 23}),
			decor.Any(v.tm.rateText, decor.WC{W: 13}),
			decor.Any(v.tm.etaText, decor.WC{W: 8}),
		),
	)
	return v
}

func barStyle() mpb.BarStyleComposer { return mpb.BarStyle().Lbound("[").Rbound("]") }

func (v *barView) plan(files []session.TransferInfo) {
	v.found(files, false)
}

// found adds files to the total; while more, the total bar shows that
// more are coming ("+" after the count of files).
func (v *barView) found(files []session.TransferInfo, more bool) {
	v.planned = true
	v.walking.Store(more)
	v.files.Add(int64(len(files)))
	for _, f := range files {
		v.sizes[f.ID] = f.Size
		v.size += f.Size
	}
	v.total.SetTotal(v.size, false)
}

func (v *barView) update(live []session.TransferInfo, now time.Time) {
	cur := v.endBytes
	for _, ti := range live {
		size, ok := v.sizes[ti.ID]
		if !ok {
			continue // another batch's transfer, or one that has ended
		}
		n := min(ti.Bytes, size)
		cur += n
		fb := v.bars[ti.ID]
		if fb == nil {
			// A bar appears once the file moves bytes; one that is
			// queued again after a lost connection keeps its bar, and
			// its rate falls to zero until it resumes.
			if ti.State != session.Running || len(v.bars) >= v.rows {
				continue
			}
			fb = v.fileBar(ti, now, n)
			v.bars[ti.ID] = fb
		}
		fb.cur = max(fb.cur, n) // counts only grow
		fb.m.add(now, fb.cur)
		fb.bar.SetCurrent(fb.cur)
	}
	v.cur = max(v.cur, cur)
	v.tm.add(now, v.cur)
	v.total.SetCurrent(v.cur)
}

// fileBar adds the bar of a running file.
func (v *barView) fileBar(ti session.TransferInfo, now time.Time, n int64) *fileBar {
	m := newMeter(now, n)
	b := v.p.New(0, barStyle(),
		mpb.BarRemoveOnComplete(),
		mpb.PrependDecorators(
			decor.Name(shorten(printable(displayPath(ti)), 30), decor.WC{W: 31, C: decor.DindentRight}),
			decor.Percentage(decor.WC{W: 5}),
		),
		mpb.AppendDecorators(
			decor.Any(m.rateText, decor.WC{W: 13}),
			decor.Any(m.etaText, decor.WC{W: 8}),
		),
	)
	b.SetTotal(v.sizes[ti.ID], false)
	return &fileBar{bar: b, m: m, cur: n}
}

func (v *barView) ended(ti session.TransferInfo) {
	size, ok := v.sizes[ti.ID]
	if !ok {
		return // another batch's, or ended already
	}
	delete(v.sizes, ti.ID) // an ended file is let go: a streamed batch holds only the files in flight
	v.endBytes += ti.Bytes
	if ti.State == session.Done || ti.State == session.Skipped {
		// A file that needed fewer bytes than its size (up to date,
		// resumed) takes the rest off the total. A failed one keeps
		// them: the total bar ends short of full.
		v.done.Add(1)
		v.size += ti.Bytes - size
		v.total.SetTotal(v.size, false)
	}
	if fb := v.bars[ti.ID]; fb != nil {
		delete(v.bars, ti.ID)
		if ti.State == session.Done {
			fb.bar.SetTotal(-1, true)
		} else {
			fb.bar.Abort(true)
		}
	}
}

func (v *barView) close() {
	for id, fb := range v.bars {
		fb.bar.Abort(true)
		delete(v.bars, id)
	}
	v.cur = max(v.cur, v.endBytes)
	switch {
	case !v.planned || v.files.Load() == 0:
		v.total.Abort(true) // nothing ran: leave no empty bar behind
	case v.done.Load() == v.files.Load():
		v.total.SetCurrent(v.cur)
		v.total.SetTotal(-1, true)
	default:
		// Some files failed or the batch was interrupted: the bar
		// stays as it is, short of full.
		v.total.SetCurrent(v.cur)
		v.total.Abort(false)
	}
	v.p.Wait()
	v.restoreEcho()
}

// meter measures a bar's rate over the last rateWindow. The poller adds
// samples; the bar's decorators read it from mpb's goroutines.
type meter struct {
	// mu guards the following fields.
	mu      sync.Mutex
	samples []sample // oldest first, spanning at most rateWindow
}

type sample struct {
	at    time.Time
	bytes int64
}

func newMeter(start time.Time, bytes int64) *meter {
	return &meter{samples: []sample{{at: start, bytes: bytes}}}
}

// add records that bytes had moved by now.
func (m *meter) add(now time.Time, bytes int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.samples = append(m.samples, sample{now, bytes})
	i := 0
	for i < len(m.samples)-2 && now.Sub(m.samples[i+1].at) >= rateWindow {
		i++
	}
	m.samples = m.samples[i:]
}

// rate is in bytes per second; 0 until there are two samples.
func (m *meter) rate() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	first, last := m.samples[0], m.samples[len(m.samples)-1]
	d := last.at.Sub(first.at).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(last.bytes-first.bytes) / d
}

func (m *meter) rateText(decor.Statistics) string {
	return humanBytes(int64(m.rate())) + "/s"
}

// etaText is the time left at the current rate; blank once complete or
// while the rate is unknown.
func (m *meter) etaText(s decor.Statistics) string {
	r := m.rate()
	if s.Completed || s.Aborted || r <= 0 || s.Total <= s.Current {
		return ""
	}
	left := time.Duration(float64(s.Total-s.Current) / r * float64(time.Second))
	return left.Round(time.Second).String()
}

// shorten keeps the end of a name (the file name) within n terminal
// columns.
func shorten(s string, n int) string {
	w := runewidth.StringWidth(s)
	if w <= n {
		return s
	}
	return runewidth.TruncateLeft(s, w-n+1, "…")
}

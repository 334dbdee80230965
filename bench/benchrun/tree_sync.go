//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// S9 measures issue 18's tree case: a tree of 10,000 files, half of them
// in cache/, is synced once in full; then 50 files of the other half
// change and 20 go, and the tree is synced again with --delete and
// --exclude cache/, by qxfer and by rsync -a, push and pull, over the
// clean link. The second sync, and a dry run of it before, are timed and
// their IP bytes counted both ways; each tool's own account of what it
// sent and deleted is checked against the change, and so is the
// destination.

const (
	syncTop      = "proj"  // the synced tree's name on both sides
	syncExcluded = "cache" // its excluded subdirectory
	syncChanged  = 50      // files changed outside cache/
	syncDeleted  = 20      // files deleted outside cache/
	syncCacheHit = 50      // files of cache/ changed too: an excluded change that must not cross
)

// SyncRun is one tool's pass over the changed tree: the dry run or
// the sync.
type SyncRun struct {
	Dir     string  `json:"dir"`  // push or pull
	Tool    string  `json:"tool"` // qxfer or rsync
	Pass    string  `json:"pass"` // "dry run" or "sync"
	Wall    float64 `json:"wall_s"`
	Wire    uint64  `json:"wire"`    // IP bytes on the link, both directions
	Sent    int     `json:"sent"`    // files the tool says it sent (sync) or would send or update (dry run)
	Deleted int     `json:"deleted"` // entries it says it deleted or would delete
	Other   int     `json:"other"`   // dry run: other actions listed (qxfer: up to date aside), or other itemized lines (rsync)
	First   float64 `json:"first_s"` // the full sync before, wall seconds
	OK      bool    `json:"ok"`      // the account was exactly the change, and (sync) the destination was checked
}

// syncTree is the data of S9: base/proj is the tree as first synced,
// changed/proj the tree after the change.
type syncData struct {
	base, changed string
	files         int      // in base, cache/ included
	changedRel    []string // slash paths under proj of the changed files
	deletedRel    []string // of the deleted ones
	changedBytes  int64    // their new sizes, summed
}

// syncTreeData writes S9's trees under dir: proj/src/dNN/fNNN.c and
// proj/cache/cNN/oNNN.o, each half of the files (5,000 + 5,000; 500 +
// 500 in quick mode), 256 B to 8 KiB of random data each, all a day
// old. changed/proj is a copy in which 50 files of src/ are edited (64
// bytes overwritten in place, 128 appended, mtime now), 20 others
// deleted, and 50 files of cache/ edited the same way.
func (b *bench) syncTreeData(dir string) (*syncData, error) {
	dirs, per := 50, 100
	if b.quick {
		dirs, per = 10, 50
	}
	d := &syncData{base: filepath.Join(dir, "base"), changed: filepath.Join(dir, "changed")}
	r := rand.New(rand.NewPCG(91, 91))
	old := time.Now().Add(-24 * time.Hour)
	var srcFiles, cacheFiles []string
	for i := range dirs {
		for k := range per {
			srcFiles = append(srcFiles, fmt.Sprintf("src/d%02d/f%03d.c", i, k))
			cacheFiles = append(cacheFiles, fmt.Sprintf("%s/c%02d/o%03d.o", syncExcluded, i, k))
		}
	}
	for i, rel := range append(slices.Clone(srcFiles), cacheFiles...) {
		p := filepath.Join(d.base, syncTop, filepath.FromSlash(rel))
		if err := writeRandom(p, 256+r.Int64N(8<<10-256), uint64(9000+i)); err != nil {
			return nil, err
		}
		if err := os.Chtimes(p, old, old); err != nil {
			return nil, err
		}
	}
	d.files = len(srcFiles) + len(cacheFiles)
	if err := os.MkdirAll(d.changed, 0o755); err != nil {
		return nil, err
	}
	if _, err := runOut(context.Background(), "cp", "-a", filepath.Join(d.base, syncTop), d.changed+"/"); err != nil {
		return nil, err
	}
	// Spread the changes: every len/70th file of src/ (the first 50
	// change, the next 20 go), and every len/50th of cache/.
	step := len(srcFiles) / (syncChanged + syncDeleted)
	for i := range syncChanged + syncDeleted {
		rel := srcFiles[i*step+r.IntN(step)]
		p := filepath.Join(d.changed, syncTop, filepath.FromSlash(rel))
		if i >= syncChanged {
			d.deletedRel = append(d.deletedRel, rel)
			if err := os.Remove(p); err != nil {
				return nil, err
			}
			continue
		}
		d.changedRel = append(d.changedRel, rel)
		n, err := editFile(p, r)
		if err != nil {
			return nil, err
		}
		d.changedBytes += n
	}
	cstep := len(cacheFiles) / syncCacheHit
	for i := range syncCacheHit {
		if _, err := editFile(filepath.Join(d.changed, syncTop, filepath.FromSlash(cacheFiles[i*cstep])), r); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// editFile overwrites 64 bytes of p at a random offset and appends 128,
// as an editor's save would (a new mtime, now), and returns its new size.
func editFile(p string, r *rand.Rand) (int64, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	off := r.IntN(len(data) - 64)
	for k := off; k < off+64; k++ {
		data[k] = byte(r.Uint32())
	}
	for range 128 {
		data = append(data, byte(r.Uint32()))
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		return 0, err
	}
	now := time.Now()
	return int64(len(data)), os.Chtimes(p, now, now)
}

// s9 runs S9: per direction and run, each tool in turn (interleaved).
func (b *bench) s9(ctx context.Context, w *world) *Scenario {
	s := &Scenario{ID: "S9", Title: "Keeping a tree in step: --delete and --exclude",
		Link: w.link.spec.String()}
	d, err := b.syncTreeData(filepath.Join(b.kit.dir, "src", "sync"))
	if err != nil {
		s.Notes = append(s.Notes, "could not write the trees: "+err.Error())
		return s
	}
	half := d.files / 2
	s.What = fmt.Sprintf("a tree of %d files (%s/ holds %d of them) is synced in full, then %d files change (%.1f KiB in all after the change) and %d go outside %s/ (and %d change inside it); "+
		"the second sync runs with --delete --exclude %s/: qxfer push/pull -r against rsync -a, each preceded by its dry run (qxfer -n --json, rsync -n -i)",
		d.files, syncExcluded, half, syncChanged, float64(d.changedBytes)/1024, syncDeleted, syncExcluded, syncCacheHit, syncExcluded)
	for _, dir := range []string{"push", "pull"} {
		for i := range b.runs {
			for _, t := range []string{"qxfer", "rsync"} {
				if ctx.Err() != nil {
					return s
				}
				b.logf("S9 %s, %s, run %d/%d", dir, t, i+1, b.runs)
				runs, err := b.syncOnce(ctx, w, d, dir, t)
				for _, r := range runs {
					b.logf("  %s: %.2f s, %.1f KiB on the wire, %d sent, %d deleted", r.Pass, r.Wall, float64(r.Wire)/1024, r.Sent, r.Deleted)
				}
				s.Tree = append(s.Tree, runs...)
				if err != nil {
					s.Notes = append(s.Notes, fmt.Sprintf("%s, %s, run %d: %v", dir, t, i+1, err))
					b.logf("S9: %v", err)
				}
			}
		}
	}
	return s
}

// syncOnce is one run of tool t in direction dir: a fresh server and
// destination, the full sync of base, the dry run and the sync of
// changed. It checks each tool's account and the destination.
func (b *bench) syncOnce(ctx context.Context, w *world, d *syncData, dir, t string) ([]SyncRun, error) {
	runSeq++
	run := filepath.Join(b.kit.dir, "sync-runs", fmt.Sprintf("run%d", runSeq))
	defer os.RemoveAll(run)
	// Push: the server's root is srvRoot, the tree lands in srvRoot/proj.
	// Pull: the server serves srvRoot/proj, the client writes dest/proj.
	srvRoot, dest := filepath.Join(run, "server"), filepath.Join(run, "client")
	for _, p := range []string{srvRoot, dest} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return nil, err
		}
	}
	if dir == "pull" {
		if _, err := runOut(ctx, "cp", "-a", filepath.Join(d.base, syncTop), srvRoot+"/"); err != nil {
			return nil, err
		}
	}
	tl := tool{name: t, label: t}
	srv, fp, err := b.kit.startServer(ctx, w, tl, srvRoot)
	if err != nil {
		return nil, err
	}
	defer srv.p.kill()
	cmd := func(src string, extra ...string) *exec.Cmd {
		return b.syncCmd(w, t, dir, fp, src, srvRoot, dest, extra...)
	}
	first, err := b.syncPass(ctx, w, cmd(d.base))
	if err != nil {
		return nil, fmt.Errorf("full sync: %w", err)
	}
	landed := filepath.Join(dest, syncTop)
	if dir == "push" {
		landed = filepath.Join(srvRoot, syncTop)
	}
	if _, files := dirBytes(landed); files != d.files {
		return nil, fmt.Errorf("full sync: %d files at the destination, want %d", files, d.files)
	}
	if dir == "pull" {
		// The server's tree changes.
		if err := os.RemoveAll(filepath.Join(srvRoot, syncTop)); err != nil {
			return nil, err
		}
		if _, err := runOut(ctx, "cp", "-a", filepath.Join(d.changed, syncTop), srvRoot+"/"); err != nil {
			return nil, err
		}
	}
	filter := []string{"--delete", "--exclude", syncExcluded + "/"}
	var out []SyncRun
	for _, pass := range []string{"dry run", "sync"} {
		extra := slices.Clone(filter)
		if pass == "dry run" {
			extra = append(extra, "-n")
		}
		p, err := b.syncPass(ctx, w, cmd(d.changed, extra...))
		if err != nil {
			return out, fmt.Errorf("%s: %w", pass, err)
		}
		r := SyncRun{Dir: dir, Tool: t, Pass: pass, Wall: p.wall, Wire: p.wire, First: first.wall}
		if t == "qxfer" {
			r.Sent, r.Deleted, r.Other, err = qxferCounts(p.stdout, pass == "dry run")
		} else {
			r.Sent, r.Deleted, r.Other = rsyncCounts(p.stdout, dir)
		}
		out = append(out, r)
		if err != nil {
			return out, fmt.Errorf("%s: %w", pass, err)
		}
		if r.Sent != syncChanged || r.Deleted != syncDeleted || r.Other != 0 {
			return out, fmt.Errorf("%s: %s says %d sent, %d deleted, %d other; want %d, %d, 0", pass, t, r.Sent, r.Deleted, r.Other, syncChanged, syncDeleted)
		}
		if pass == "sync" {
			if err := checkSynced(landed, d); err != nil {
				return out, err
			}
		}
		out[len(out)-1].OK = true
	}
	return out, nil
}

// syncCmd is the command of one pass: src (base or changed) holds the
// tree proj; the server's root is srvRoot, the client's destination
// directory dest (pull).
func (b *bench) syncCmd(w *world, t, dir, fp, src, srvRoot, dest string, extra ...string) *exec.Cmd {
	if t == "qxfer" {
		args := []string{"--json", dir, "-r", "--log-level", "warn", "--log-format", "console", "--fingerprint", fp}
		args = append(args, extra...)
		if dir == "push" {
			args = append(args, filepath.Join(src, syncTop), w.addr+":4433:")
		} else {
			args = append(args, w.addr+":4433:"+syncTop, dest+"/")
		}
		return inNS(w.nsClient, []string{"QXFER_HOME=" + b.kit.clientHome}, b.kit.qxfer, args...)
	}
	args := []string{"-a", "-i", "-e", "ssh " + strings.Join(b.kit.sshCmd(), " ")}
	args = append(args, extra...)
	if dir == "push" {
		args = append(args, filepath.Join(src, syncTop), "root@"+w.addr+":"+srvRoot+"/")
	} else {
		args = append(args, "root@"+w.addr+":"+filepath.Join(srvRoot, syncTop), dest+"/")
	}
	return inNS(w.nsClient, nil, "rsync", args...)
}

// syncResult is one pass's figures and the client's output.
type syncResult struct {
	wall   float64
	wire   uint64
	stdout string
}

// syncPass runs c and counts the link's bytes both ways while it runs.
func (b *bench) syncPass(ctx context.Context, w *world, c *exec.Cmd) (syncResult, error) {
	cli, wire, err := runCounted(ctx, w, filepath.Base(c.Path), c, 10*time.Minute)
	if err != nil {
		return syncResult{}, err
	}
	return syncResult{wall: cli.wall.Seconds(), wire: wire, stdout: cli.out.String()}, nil
}

// qxferCounts reads qxfer's --json output: for a dry run the action
// events (send and update are sent, delete deleted, anything but
// uptodate is other), for a sync the summary's done and deleted.
func qxferCounts(stdout string, dry bool) (sent, deleted, other int, err error) {
	var summary bool
	for _, line := range strings.Split(stdout, "\n") {
		var ev struct {
			Event    string `json:"event"`
			Action   string `json:"action"`
			Done     int    `json:"done"`
			Deleted  int    `json:"deleted"`
			Failed   int    `json:"failed"`
			ExitCode int    `json:"exit_code"`
		}
		if json.Unmarshal([]byte(line), &ev) != nil {
			continue
		}
		switch {
		case ev.Event == "action":
			switch ev.Action {
			case "send", "update":
				sent++
			case "delete":
				deleted++
			case "uptodate":
			default:
				other++
			}
		case ev.Event == "summary":
			summary = true
			if ev.Failed > 0 || ev.ExitCode != 0 {
				return 0, 0, 0, fmt.Errorf("qxfer: %d failed, exit code %d", ev.Failed, ev.ExitCode)
			}
			if !dry {
				sent, deleted = ev.Done, ev.Deleted
			}
		}
	}
	if !summary {
		return 0, 0, 0, fmt.Errorf("qxfer printed no summary event")
	}
	return sent, deleted, other, nil
}

// rsyncCounts reads rsync -i's itemized changes: a file sent ("<f" on a
// push, ">f" on a pull), "*deleting"; other is anything else itemized
// (directories' times excepted: ".d" and "cd" lines).
func rsyncCounts(stdout, dir string) (sent, deleted, other int) {
	mark := "<f"
	if dir == "pull" {
		mark = ">f"
	}
	for _, line := range strings.Split(stdout, "\n") {
		switch {
		case line == "":
		case strings.HasPrefix(line, mark):
			sent++
		case strings.HasPrefix(line, "*deleting"):
			deleted++
		case strings.HasPrefix(line, ".d"), strings.HasPrefix(line, "cd"):
		default:
			other++
		}
	}
	return sent, deleted, other
}

// checkSynced checks the destination tree landed after the sync: src/
// is changed/proj/src exactly (the 50 edits in, the 20 gone) and cache/
// is still base's (excluded: neither updated nor deleted).
func checkSynced(landed string, d *syncData) error {
	if err := sameTrees(filepath.Join(d.changed, syncTop, "src"), filepath.Join(landed, "src")); err != nil {
		return fmt.Errorf("src/: %w", err)
	}
	if err := sameTrees(filepath.Join(d.base, syncTop, syncExcluded), filepath.Join(landed, syncExcluded)); err != nil {
		return fmt.Errorf("%s/ (excluded): %w", syncExcluded, err)
	}
	return nil
}

// sameTrees checks that b holds exactly a's regular files, byte for byte.
func sameTrees(a, b string) error {
	list := func(root string) (map[string]bool, error) {
		m := map[string]bool{}
		err := filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
			if err == nil && e.Type().IsRegular() {
				rel, _ := filepath.Rel(root, p)
				m[rel] = true
			}
			return err
		})
		return m, err
	}
	la, err := list(a)
	if err != nil {
		return err
	}
	lb, err := list(b)
	if err != nil {
		return err
	}
	for rel := range lb {
		if !la[rel] {
			return fmt.Errorf("%s should not be there", rel)
		}
	}
	for rel := range la {
		if !lb[rel] {
			return fmt.Errorf("%s is missing", rel)
		}
		x, err := os.ReadFile(filepath.Join(a, rel))
		if err != nil {
			return err
		}
		y, err := os.ReadFile(filepath.Join(b, rel))
		if err != nil {
			return err
		}
		if string(x) != string(y) {
			return fmt.Errorf("%s differs", rel)
		}
	}
	return nil
}

// syncMedian is the median of one direction, tool and pass: wall
// seconds, wire bytes and the full sync's wall, and the number of runs.
func syncMedian(s *Scenario, dir, t, pass string) (wall, wire, first float64, n int) {
	var walls, wires, firsts []float64
	for _, r := range s.Tree {
		if r.Dir == dir && r.Tool == t && r.Pass == pass {
			walls, wires, firsts = append(walls, r.Wall), append(wires, float64(r.Wire)), append(firsts, r.First)
		}
	}
	if len(walls) == 0 {
		return 0, 0, 0, 0
	}
	return medianOf(walls), medianOf(wires), medianOf(firsts), len(walls)
}

// treeSyncMD is S9's table: per direction, pass and tool, the medians,
// and qxfer's figures as a ratio of rsync's.
func treeSyncMD(w *strings.Builder, s *Scenario) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("Bytes on the wire are IP bytes both ways, counted by linkem; medians of the runs. Files sent and deleted are each tool's own account (qxfer's JSON summary and action events, rsync's -i lines), checked against the change; the destination is checked after every sync (src/ equal to the changed tree, %s/ untouched).\n\n", syncExcluded)
	p("| direction | pass | tool | wall s | wire KiB | sent | deleted | qxfer ÷ rsync (time) | qxfer ÷ rsync (wire) | full sync before, s | runs |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, dir := range []string{"push", "pull"} {
		for _, pass := range []string{"dry run", "sync"} {
			qw, qb, _, qn := syncMedian(s, dir, "qxfer", pass)
			rw, rb, _, rn := syncMedian(s, dir, "rsync", pass)
			for _, t := range []string{"qxfer", "rsync"} {
				wall, wire, first, n := syncMedian(s, dir, t, pass)
				if n == 0 {
					p("| %s | %s | %s | failed | | | | | | | 0 |\n", dir, pass, t)
					continue
				}
				var sent, deleted int
				for _, r := range s.Tree {
					if r.Dir == dir && r.Tool == t && r.Pass == pass {
						sent, deleted = r.Sent, r.Deleted
					}
				}
				rt, rwire := "", ""
				if t == "qxfer" && qn > 0 && rn > 0 && rw > 0 && rb > 0 {
					rt, rwire = fmt.Sprintf("%.2f×", qw/rw), fmt.Sprintf("%.2f×", qb/rb)
				}
				p("| %s | %s | %s | %.2f | %.1f | %d | %d | %s | %s | %.2f | %d |\n", dir, pass, t, wall, wire/1024, sent, deleted, rt, rwire, first, n)
			}
		}
	}
	p("\n")
	writeNotes(w, s.Notes)
}

// treeSyncTargets checks issue 18's tree goal against S9: in each
// direction, every qxfer sync sent exactly the changed files and deleted
// exactly the deleted ones, and left the destination as checkSynced
// wants, and every dry run listed exactly those actions (SyncRun.OK);
// the wire and time against rsync are shown.
func treeSyncTargets(rep *Report) []Target {
	s := rep.scenario("S9")
	if s == nil {
		return nil
	}
	var ts []Target
	for _, dir := range []string{"push", "pull"} {
		target := fmt.Sprintf("%s --delete --exclude: only the %d changed files cross, %d deleted, the dry run lists exactly those", dir, syncChanged, syncDeleted)
		qw, qb, _, n := syncMedian(s, dir, "qxfer", "sync")
		if n == 0 {
			ts = append(ts, Target{Scenario: "S9", Target: target, Measured: "no qxfer run completed", Verdict: "n/a"})
			continue
		}
		// Every qxfer run of dir, both passes, must have held.
		var good, all int
		for _, r := range s.Tree {
			if r.Dir == dir && r.Tool == "qxfer" {
				all++
				if r.OK {
					good++
				}
			}
		}
		m := fmt.Sprintf("%d of %d passes exact; sync: %.1f KiB on the wire in %.2f s", good, all, qb/1024, qw)
		if rw, rb, _, rn := syncMedian(s, dir, "rsync", "sync"); rn > 0 {
			m += fmt.Sprintf(" (rsync: %.1f KiB in %.2f s)", rb/1024, rw)
		}
		ts = append(ts, Target{Scenario: "S9", Target: target, Measured: m, Verdict: verdict(good == all && all == 2*n)})
	}
	return ts
}

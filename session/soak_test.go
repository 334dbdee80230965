package session

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/internal/udpproxy"
)

var (
	soakTransfers = flag.Int("soak.transfers", 40, "files TestSoak moves in all (make soak runs hundreds)")
	soakSeed      = flag.Uint64("soak.seed", 0, "seed of TestSoak's plan (0: from the clock; the seed is logged)")
	soakConns     = flag.Int("soak.connections", 3, "pool size of TestSoak's pooled run (1: only the single-connection run)")
)

// soakFault is what TestSoak does to a round's batch while it runs.
type soakFault int

const (
	faultNone        soakFault = iota
	faultShortOutage           // blackhole shorter than the idle timeout
	faultLongOutage            // blackhole until the session reconnects
	faultRebind                // NAT rebinding
	faultKill                  // the client dies; a new one re-runs the batch
	numFaults
)

var faultNames = [...]string{"none", "short outage", "long outage", "rebind", "kill"}

func (f soakFault) String() string { return faultNames[f] }

// soakRound is one batch of the plan.
type soakRound struct {
	pull     bool
	parallel int
	loss     float64
	fault    soakFault
	sizes    []int
}

// soakPlan draws rounds until they hold n files. The first rounds with a
// fault go through every kind of fault, so that even a short run injects
// each of them; a round with a fault holds at least one big file, for the
// fault to land mid-batch; other rounds rarely do, which keeps the
// default run short at up to 2% loss.
func soakPlan(r *rand.Rand, n int) []soakRound {
	var rounds []soakRound
	faults := r.Perm(int(numFaults) - 1)
	for files := 0; files < n; {
		rd := soakRound{pull: r.IntN(2) == 0, parallel: 1 + r.IntN(16), loss: r.Float64() * 0.02}
		switch {
		case len(faults) > 0:
			rd.fault, faults = soakFault(faults[0]+1), faults[1:]
		case r.IntN(3) > 0:
			rd.fault = soakFault(1 + r.IntN(int(numFaults)-1))
		}
		k := min(n-files, 4+r.IntN(7))
		for i := range k {
			var size int
			switch c := r.IntN(20); {
			case i == 0 && rd.fault != faultNone, c == 0:
				// 1 to 8 MiB, log-uniform: big files are what
				// outages and kills land in, but at up to 2% loss
				// they are also what takes time.
				size = int(math.Exp2(20 + 3*r.Float64()))
			case c < 8:
				size = 100 << 10
			case c < 13:
				size = 4 << 10
			case c < 17:
				size = 1
			default:
				size = 0
			}
			rd.sizes = append(rd.sizes, size)
		}
		r.Shuffle(len(rd.sizes), func(i, j int) { rd.sizes[i], rd.sizes[j] = rd.sizes[j], rd.sizes[i] })
		files += k
		rounds = append(rounds, rd)
	}
	return rounds
}

// openFDs counts the process's open file descriptors, -1 where that is
// not known.
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// checkFDs waits for the open file descriptors to come back to base plus
// a little slack (the runtime's and the race detector's own).
func checkFDs(t testing.TB, base int) {
	t.Helper()
	if base < 0 {
		return
	}
	const slack = 5
	deadline := time.Now().Add(5 * time.Second)
	for openFDs() > base+slack {
		if time.Now().After(deadline) {
			t.Fatalf("open files: got %d, want <= %d (%d before the test plus %d)", openFDs(), base+slack, base, slack)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// hashOf is the SHA-256 of the file at path.
func hashOf(t testing.TB, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return sha256.Sum256(b)
}

// soakStats is what TestSoak injected and survived.
type soakStats struct {
	rounds, files, pushes, pulls              int
	bytes                                     int64
	shortOutages, longOutages, rebinds, kills int
	midBatch                                  int // faults that landed while the batch was moving bytes
	shortReconnected                          int // short outages the connection did not ride out
	reconnects, sessions                      int
	resumedAfterKill, skippedAfterKill        int
}

// TestSoak runs a seeded plan of push and pull batches of mixed sizes and
// parallelism through a lossy, jittery, reordering link, with outages
// shorter and longer than the idle timeout, NAT rebindings and client
// kills injected mid-batch. Every file must arrive intact, no partial
// file may remain, and goroutines and file descriptors must come back to
// where they were. make soak runs it with hundreds of files.
func TestSoak(t *testing.T) {
	t.Run("one connection", func(t *testing.T) { soak(t, PoolConfig{}) })
	if *soakConns > 1 {
		t.Run(fmt.Sprintf("pool of %d", *soakConns), func(t *testing.T) { soak(t, PoolConfig{Size: *soakConns}) })
	}
}

// soak runs the plan with sessions striped over pool (or not).
func soak(t *testing.T, pool PoolConfig) {
	seed := *soakSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("soak: seed %d (-soak.seed=%d repeats the plan)", seed, seed)
	r := rand.New(rand.NewPCG(seed, 0x50a4))
	plan := soakPlan(r, *soakTransfers)

	baseG, baseFD := runtime.NumGoroutine(), openFDs()
	ts := quickServer(t)
	p := throttledProxy(t, ts, udpproxy.Config{
		Delay:    10 * time.Millisecond,
		Jitter:   2 * time.Millisecond,
		Reorder:  true,
		RateBits: 200e6,
		Seed:     int64(seed),
	})
	id := newIdentity(t)
	events := &eventLog{}
	newSession := func() *Session {
		return newPoolSession(t, ts, id, p.Addr().String(), reconnectQuic, pool, sessionConfig{RetryFor: 30 * time.Second, OnEvent: events.add})
	}
	s := newSession()
	var st soakStats
	st.sessions = 1
	local := t.TempDir()
	want := make(map[string][32]byte) // every destination file and the hash of its source

	for i, rd := range plan {
		name := fmt.Sprintf("r%03d", i)
		srcRoot, dstRoot := local, ts.root
		if rd.pull {
			srcRoot, dstRoot = ts.root, filepath.Join(local, "pulled")
			st.pulls++
		} else {
			st.pushes++
		}
		for j, size := range rd.sizes {
			rel := filepath.Join(name, fmt.Sprintf("f%02d-%d.bin", j, size))
			want[filepath.Join(dstRoot, rel)] = sha256.Sum256(testutil.WriteRandom(t, filepath.Join(srcRoot, rel), size))
			st.bytes += int64(size)
		}
		st.files += len(rd.sizes)
		st.rounds++
		p.SetLoss(rd.loss, rd.loss)
		opts := Options{Recursive: true, Parallel: rd.parallel}
		batch := func(ctx context.Context, s *Session) (*Report, error) {
			if rd.pull {
				return s.Pull(ctx, []string{name}, dstRoot, opts)
			}
			return s.Push(ctx, []string{filepath.Join(local, name)}, ".", opts)
		}

		roundStart := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 2*hangAfter)
		res := make(chan pushResult, 1)
		done := make(chan struct{})
		go func() {
			rep, err := batch(ctx, s)
			res <- pushResult{rep, err}
			close(done)
		}()
		finished := func() bool {
			select {
			case <-done:
				return true
			default:
				return false
			}
		}
		mid := false
		if rd.fault != faultNone {
			// Land the fault while a big file is moving, unless the
			// batch is over first.
			testutil.Eventually(t, hangAfter, "a big file under way", func() bool {
				_, ok := liveInfo(s.Transfers(), func(i TransferInfo) bool { return i.Size >= 1<<20 && i.Bytes >= 256<<10 })
				return ok || finished()
			})
			if mid = !finished(); mid {
				st.midBatch++
			}
		}
		switch rd.fault {
		case faultShortOutage:
			st.shortOutages++
			before := events.count(EventReconnecting)
			p.SetBlackhole(true)
			time.Sleep(reconnectQuic.IdleTimeout / 4)
			p.SetBlackhole(false)
			if events.count(EventReconnecting) > before {
				st.shortReconnected++ // a loaded machine may starve the connection
			}
		case faultLongOutage:
			st.longOutages++
			before := events.count(EventReconnecting)
			p.SetBlackhole(true)
			if mid {
				testutil.Eventually(t, hangAfter, "the session to notice the outage", func() bool { return events.count(EventReconnecting) > before })
			} else {
				// The batch is over: nothing asks for the connection
				// until the next round, which has to reconnect.
				time.Sleep(2 * reconnectQuic.IdleTimeout)
			}
			p.SetBlackhole(false)
		case faultRebind:
			st.rebinds++
			if err := p.Rebind(); err != nil {
				t.Fatalf("rebind: %v", err)
			}
		case faultKill:
			st.kills++
			// The process dies: its connection closes at once and
			// nothing it had started goes on.
			s.CloseWithCode(CodeInterrupted, "killed")
			cancel()
			<-done
			s.Close()
			st.reconnects += s.Reconnects()
			// A new process with the same identity runs the same
			// command; the server hands it the old pushes and both
			// sides resume from their durable offsets.
			s = newSession()
			st.sessions++
			ctx, cancel = context.WithTimeout(context.Background(), 2*hangAfter)
			rep, err := batch(ctx, s)
			res = make(chan pushResult, 1)
			res <- pushResult{rep, err}
			if rep != nil {
				st.resumedAfterKill += rep.Count(Done)
				st.skippedAfterKill += rep.Count(Skipped)
				if mid && rep.Count(Done) == 0 {
					t.Errorf("round %d: got every file complete after killing the client mid-batch, want the big one finished by the new client", i)
				}
			}
		}
		rep := waitPush(t, res, hangAfter)
		cancel()
		if err := rep.Err(); err != nil {
			t.Fatalf("round %d (%s, %d files, parallel %d, loss %.2f%%, %s): %v",
				i, map[bool]string{false: "push", true: "pull"}[rd.pull], len(rd.sizes), rd.parallel, 100*rd.loss, rd.fault, err)
		}
		t.Logf("round %d: %s %d files (%.1f MiB), parallel %d, loss %.2f%%, %s: %s",
			i, map[bool]string{false: "push", true: "pull"}[rd.pull], len(rd.sizes), float64(rep.Bytes())/(1<<20), rd.parallel, 100*rd.loss, rd.fault, time.Since(roundStart).Round(time.Millisecond))
		if got := len(rep.Files); got != len(rd.sizes) {
			t.Fatalf("round %d: got %d files in the report, want %d", i, got, len(rd.sizes))
		}
		for _, f := range rep.Files {
			if f.State != Done && !(rd.fault == faultKill && f.State == Skipped) {
				t.Fatalf("round %d: %s: got state %s (err %v), want done", i, f.Path, f.State, f.Err)
			}
		}
	}

	for path, h := range want {
		if got := hashOf(t, path); got != h {
			t.Errorf("%s: got contents differing from the source", path)
		}
	}
	testutil.NoPartials(t, ts.root)
	testutil.NoPartials(t, local)
	if got := ts.srv.Transfers().Len(); got != 0 {
		t.Errorf("server: got %d live transfers after the last batch, want 0", got)
	}

	st.reconnects += s.Reconnects()
	cs := s.Stats()
	s.Close()
	ps := p.Stats()
	p.Close()
	ts.stop()
	if st.reconnects < st.longOutages {
		t.Errorf("got %d reconnects, want at least one per long outage (%d)", st.reconnects, st.longOutages)
	}
	if ps.Rebinds != st.rebinds {
		t.Errorf("proxy: got %d rebinds, want %d", ps.Rebinds, st.rebinds)
	}
	testutil.CheckGoroutines(t, baseG)
	checkFDs(t, baseFD)

	t.Logf("soak: %d rounds (%d pushes, %d pulls), %d files, %.1f MiB", st.rounds, st.pushes, st.pulls, st.files, float64(st.bytes)/(1<<20))
	t.Logf("soak: injected %d short outages (%d outlasted the connection), %d long outages, %d rebinds, %d kills (%d faults mid-batch)", st.shortOutages, st.shortReconnected, st.longOutages, st.rebinds, st.kills, st.midBatch)
	t.Logf("soak: survived with %d reconnects over %d sessions; after kills %d files resumed or restarted, %d already complete", st.reconnects, st.sessions, st.resumedAfterKill, st.skippedAfterKill)
	t.Logf("soak: proxy dropped (loss, outages, rebinds) %d of %d packets to the server, %d of %d to the client; the last session's client declared %d packets lost",
		ps.ToServer.Dropped, ps.ToServer.Dropped+ps.ToServer.Packets, ps.ToClient.Dropped, ps.ToClient.Dropped+ps.ToClient.Packets, cs.PacketsLost)
}

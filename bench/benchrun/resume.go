//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"time"
)

// ResumeRun is one kill-and-resume of S6.
type ResumeRun struct {
	Size       int64   `json:"size"`
	Received   int64   `json:"received_at_kill"` // payload in the .part after the kill
	Remaining  int64   `json:"remaining"`        // Size - Received
	Wire1      uint64  `json:"wire1"`            // IP bytes client to server, killed run
	Wire2      uint64  `json:"wire2"`            // IP bytes client to server, resumed run
	Wire2Back  uint64  `json:"wire2_back"`       // IP bytes server to client, resumed run
	Overhead   float64 `json:"overhead"`         // wire bytes per payload byte of an uninterrupted S2 push
	Wall2      float64 `json:"wall2_s"`
	ResumedPay float64 `json:"resumed_payload"` // Wire2 / Overhead: payload bytes the resumed run sent
}

// Excess is how much more than the remaining bytes the resumed run sent,
// as a fraction of the remaining bytes.
func (r ResumeRun) Excess() float64 { return r.ResumedPay/float64(r.Remaining) - 1 }

// s6 pushes the mid-size file, SIGKILLs the client once half the file's
// bytes have crossed the link, and pushes again to the same server.
// overhead is the wire-bytes-per-payload-byte of an uninterrupted push on
// the same link (from S2), so the resumed run's wire bytes can be turned
// into payload bytes.
func (b *bench) s6(ctx context.Context, w *world, overhead float64) *Scenario {
	s := &Scenario{ID: "S6", Title: "Kill at half, resume",
		What: fmt.Sprintf("one %s file: qxfer push SIGKILLed when half the file has crossed the link, then the same push again", size(b.sz.mid)),
		Link: w.link.spec.String()}
	for i := range b.runs {
		if ctx.Err() != nil {
			break
		}
		b.logf("S6 run %d/%d", i+1, b.runs)
		r, err := b.resumeOnce(ctx, w, overhead)
		if err != nil {
			s.Notes = append(s.Notes, fmt.Sprintf("run %d failed: %v", i+1, err))
			b.logf("S6: %v", err)
			continue
		}
		b.logf("  received %s at the kill, resumed run sent %.1f MiB of payload for %.1f MiB remaining (%+.1f%%)",
			mib(r.Received), r.ResumedPay/(1<<20), float64(r.Remaining)/(1<<20), r.Excess()*100)
		s.Resume = append(s.Resume, r)
	}
	return s
}

func (b *bench) resumeOnce(ctx context.Context, w *world, overhead float64) (ResumeRun, error) {
	r := ResumeRun{Size: b.sz.mid, Overhead: overhead}
	t := tool{name: "qxfer", label: "qxfer"}
	j := job{srcs: []string{b.data.mid}, bytes: b.sz.mid, files: 1}
	pr, err := b.startPushRun(ctx, w, t)
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(pr.dest)
	defer pr.srv.stop()

	// First run: kill when half the file's bytes have crossed the link.
	s0, err := w.link.stats(ctx)
	if err != nil {
		return r, err
	}
	cli, err := spawn("qxfer push", b.kit.clientCmd(w, t, j, pr.root, pr.sub, pr.fp), false)
	if err != nil {
		return r, err
	}
	for {
		st, err := w.link.stats(ctx)
		if err != nil {
			cli.kill()
			return r, err
		}
		if st.AB.OutBytes-s0.AB.OutBytes >= uint64(b.sz.mid/2) {
			break
		}
		if cli.exited() {
			return r, fmt.Errorf("push ended before half the file was sent: %s", fmtErr(cli))
		}
		time.Sleep(20 * time.Millisecond)
	}
	cli.kill()
	time.Sleep(2 * w.link.spec.Delay) // let the packets in flight land
	s1, err := w.link.stats(ctx)
	if err != nil {
		return r, err
	}
	r.Wire1 = s1.AB.OutBytes - s0.AB.OutBytes
	if r.Received, err = matchedBytes(pr.dest, b.data.mid); err != nil {
		return r, err
	}
	r.Remaining = r.Size - r.Received

	// Second run: the same push, to completion.
	cli, err = spawn("qxfer push (resume)", b.kit.clientCmd(w, t, j, pr.root, pr.sub, pr.fp), false)
	if err != nil {
		return r, err
	}
	if err := cli.wait(5 * time.Minute); err != nil {
		return r, fmt.Errorf("resumed push: %s", fmtErr(cli))
	}
	r.Wall2 = cli.wall.Seconds()
	time.Sleep(2 * w.link.spec.Delay)
	s2, err := w.link.stats(ctx)
	if err != nil {
		return r, err
	}
	r.Wire2 = s2.AB.OutBytes - s1.AB.OutBytes
	r.Wire2Back = s2.BA.OutBytes - s1.BA.OutBytes
	r.ResumedPay = float64(r.Wire2) / overhead
	if n, files := dirBytes(pr.dest); n != r.Size || files != 1 {
		return r, fmt.Errorf("after the resume the destination holds %d bytes in %d files, want %d in 1", n, files, r.Size)
	}
	if got, err := matchedBytes(pr.dest, b.data.mid); err != nil || got != r.Size {
		return r, fmt.Errorf("after the resume %d of %d bytes match the source (%v)", got, r.Size, err)
	}
	return r, nil
}

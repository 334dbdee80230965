package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/qxfer/qxfer/internal/testutil"
)

// The S3 root scripts' commands, those of the scripts on several servers
// included (issue 16: two servers racing for one upload, exactly one
// writes; a client that reconnects to a second server resumes).
// Background servers on an S3 root run with qxfer-bg (so that a script
// can kill them); the AWS credentials pass to them.
func init() {
	scriptCmds["s3-bg"] = cmdS3Bg
	scriptCmds["s3-wait-parts"] = cmdS3WaitParts
	scriptCmds["s3-resume-bound"] = cmdS3ResumeBound
	scriptCmds["s3-nostate"] = cmdS3NoState
	scriptCmds["s3-wait-lease"] = cmdS3WaitLease
	scriptCmds["s3-one-writer"] = cmdS3OneWriter
	scriptCmds["s3-uploads"] = cmdS3Uploads
	scriptCmds["s3-received"] = cmdS3Received
	bgEnv = append(bgEnv, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")
}

// cmdS3Bg implements "s3-bg": it starts versitygw on a free loopback
// port, serving $WORK/s3 (stopped when the script ends), and sets
// $S3_ENDPOINT, $S3_BUCKET, $S3_DIR (the bucket's directory: object K
// is the file $S3_DIR/K) and the AWS credentials. Without versitygw
// the script is skipped, or fails in CI (testutil.RequireS3).
func cmdS3Bg(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: s3-bg")
	}
	dir := ts.MkAbs("s3")
	ts.Check(os.MkdirAll(dir, 0o755))
	s, stop, err := testutil.StartVersitygw(dir, ts.Getenv("WORK"))
	if err == testutil.ErrNoVersitygw && !testutil.RequireS3() {
		ts.Value(tKey{}).(testscript.T).Skip("SKIPPING S3 SCRIPT: ", err)
	}
	ts.Check(err)
	ts.Defer(stop)
	ts.Setenv("S3_ENDPOINT", s.Endpoint)
	ts.Setenv("S3_BUCKET", s.Bucket)
	ts.Setenv("S3_DIR", filepath.Join(dir, s.Bucket))
	ts.Setenv("AWS_ACCESS_KEY_ID", s.AccessKey)
	ts.Setenv("AWS_SECRET_ACCESS_KEY", s.SecretKey)
	ts.Setenv("AWS_REGION", "us-east-1")
}

// stateParts is what the S3 commands read of a state object.
type stateParts struct {
	Parts []struct {
		Size uint64 `json:"size"`
	} `json:"parts"`
	Expires time.Time `json:"expires"`
}

// states reads the state objects under dir (files in .qxfer/up/
// directories), by path.
func states(dir string) map[string]stateParts {
	out := map[string]stateParts{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") || filepath.Base(filepath.Dir(p)) != "up" {
			return nil
		}
		b, err := os.ReadFile(p)
		var st stateParts
		if err == nil && json.Unmarshal(b, &st) == nil {
			out[p] = st
		}
		return nil
	})
	return out
}

// s3PartsTimeout bounds s3-wait-parts: it only guards against a hang, and
// under -race on a loaded machine the first parts of a push (behind a
// server, a client and versitygw) took more than bgWaitTimeout.
const s3PartsTimeout = 3 * bgWaitTimeout

// cmdS3WaitParts implements "s3-wait-parts N": it waits until a state
// object under $S3_DIR records at least N uploaded parts.
func cmdS3WaitParts(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: s3-wait-parts N")
	}
	n, err := strconv.Atoi(args[0])
	ts.Check(err)
	deadline := time.Now().Add(s3PartsTimeout)
	for time.Now().Before(deadline) {
		for _, st := range states(ts.Getenv("S3_DIR")) {
			if len(st.Parts) >= n {
				ts.Logf("s3-wait-parts: %d parts recorded", len(st.Parts))
				return
			}
		}
		time.Sleep(bgPollInterval)
	}
	ts.Fatalf("s3-wait-parts: no state object records %d parts after %v", n, s3PartsTimeout)
}

// cmdS3ResumeBound implements "s3-resume-bound VAR SIZE PART": it sets
// $VAR to the most a resume of the one upload recorded under $S3_DIR may
// send: SIZE less the bytes of its recorded parts, plus one PART.
func cmdS3ResumeBound(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: s3-resume-bound VAR SIZE PART")
	}
	size, err := strconv.ParseUint(args[1], 10, 64)
	ts.Check(err)
	part, err := strconv.ParseUint(args[2], 10, 64)
	ts.Check(err)
	sts := states(ts.Getenv("S3_DIR"))
	if len(sts) != 1 {
		ts.Fatalf("s3-resume-bound: got %d state objects, want 1", len(sts))
	}
	var held uint64
	for _, st := range sts {
		for _, p := range st.Parts {
			held += p.Size
		}
	}
	if held == 0 {
		ts.Fatalf("s3-resume-bound: the state records no part")
	}
	ts.Logf("s3-resume-bound: %d bytes recorded", held)
	ts.Setenv(args[0], strconv.FormatUint(size-held+part, 10))
}

// cmdS3NoState implements "s3-nostate": no state object is left under
// $S3_DIR (every upload was completed or aborted).
func cmdS3NoState(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: s3-nostate")
	}
	if sts := states(ts.Getenv("S3_DIR")); len(sts) != 0 {
		ts.Fatalf("s3-nostate: %d state objects left", len(sts))
	}
}

// cmdS3WaitLease implements "s3-wait-lease": it waits until no state
// object under $S3_DIR holds a live lease (its writer died, and the
// lease expired).
func cmdS3WaitLease(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: s3-wait-lease")
	}
	deadline := time.Now().Add(bgWaitTimeout)
	for time.Now().Before(deadline) {
		live := false
		for _, st := range states(ts.Getenv("S3_DIR")) {
			live = live || time.Now().Before(st.Expires)
		}
		if !live {
			return
		}
		time.Sleep(bgPollInterval)
	}
	ts.Fatalf("s3-wait-lease: a lease is still live after %v", bgWaitTimeout)
}

// loserCodes match the file_failed event (--json) of a push that lost a
// race for its destination: another server held the upload (busy), or
// had completed it (exists).
var loserCodes = regexp.MustCompile(`"event":"file_failed".*"code":"(busy|exists)"`)

// cmdS3OneWriter implements "s3-one-writer OBJ NAME1 SRC1 NAME2 SRC2":
// it waits for background pushes NAME1 and NAME2 (of SRC1 and SRC2 to
// the one destination whose object is the file OBJ) to exit, and checks
// that exactly one of them succeeded (status 0) and the other failed
// (status 1) with a file_failed event of code busy or exists on stdout
// (the pushes run with --json), and that OBJ holds the winner's source,
// whole.
func cmdS3OneWriter(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 5 {
		ts.Fatalf("usage: s3-one-writer OBJ NAME1 SRC1 NAME2 SRC2")
	}
	type racer struct {
		p   *bgProc
		src string
	}
	racers := []racer{{bgProcNamed(ts, args[1]), args[2]}, {bgProcNamed(ts, args[3]), args[4]}}
	var winners, losers []racer
	for _, r := range racers {
		select {
		case <-r.p.done:
		case <-time.After(2 * bgWaitTimeout):
			ts.Fatalf("s3-one-writer: %s still running after %v\nstderr:\n%s", r.p.name, 2*bgWaitTimeout, readTail(r.p.errPath))
		}
		r.p.checked = true
		out, err := os.ReadFile(r.p.outPath)
		ts.Check(err)
		switch code := r.p.cmd.ProcessState.ExitCode(); {
		case code == 0:
			winners = append(winners, r)
		case code == 1 && loserCodes.Match(out):
			ts.Logf("s3-one-writer: %s lost with code %s", r.p.name, loserCodes.FindSubmatch(out)[1])
			losers = append(losers, r)
		default:
			// CI once saw a racer exit 1 with nothing on stdout or
			// stderr; its CPU time says whether it ran at all.
			ps := r.p.cmd.ProcessState
			ts.Fatalf("s3-one-writer: %s: %s after %v user, %v system CPU, want success or status 1 with code busy or exists\nstdout:\n%s\nstderr:\n%s",
				r.p.name, r.p.describe(), ps.UserTime(), ps.SystemTime(), out, readTail(r.p.errPath))
		}
	}
	if len(winners) != 1 || len(losers) != 1 {
		ts.Fatalf("s3-one-writer: got %d winners and %d losers, want exactly one of each", len(winners), len(losers))
	}
	got, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	want, err := os.ReadFile(ts.MkAbs(winners[0].src))
	ts.Check(err)
	if !bytes.Equal(got, want) {
		ts.Fatalf("s3-one-writer: %s (%d bytes) is not the winner %s's source %s (%d bytes)", args[0], len(got), winners[0].p.name, winners[0].src, len(want))
	}
	ts.Logf("s3-one-writer: %s wrote %s", winners[0].p.name, args[0])
}

// cmdS3Uploads implements "s3-uploads N": the bucket $S3_BUCKET has N
// multipart uploads in progress, as the S3 API lists them.
func cmdS3Uploads(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: s3-uploads N")
	}
	n, err := strconv.Atoi(args[0])
	ts.Check(err)
	c, err := minio.NewCore(strings.TrimPrefix(ts.Getenv("S3_ENDPOINT"), "http://"), &minio.Options{
		Creds:  credentials.NewStaticV4(ts.Getenv("AWS_ACCESS_KEY_ID"), ts.Getenv("AWS_SECRET_ACCESS_KEY"), ""),
		Region: "us-east-1", BucketLookup: minio.BucketLookupPath,
	})
	ts.Check(err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.ListMultipartUploads(ctx, ts.Getenv("S3_BUCKET"), "", "", "", "", 1000)
	ts.Check(err)
	if len(res.Uploads) != n {
		ts.Fatalf("s3-uploads: got %d multipart uploads in progress, want %d", len(res.Uploads), n)
	}
}

// cmdS3Received implements "s3-received FILE PATH MAX": the last
// transfer of PATH that server log FILE (JSON lines) records succeeded,
// having received at most MAX bytes over the network (its "bytes"; the
// bytes it resumed from are "resumed").
func cmdS3Received(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: s3-received FILE PATH MAX")
	}
	max, err := strconv.ParseInt(args[2], 10, 64)
	ts.Check(err)
	var last *struct {
		Message string `json:"message"`
		Path    string `json:"path"`
		Bytes   int64  `json:"bytes"`
		Resumed int64  `json:"resumed"`
		Code    string `json:"code"`
	}
	for _, line := range strings.Split(ts.ReadFile(args[0]), "\n") {
		var ev struct {
			Message string `json:"message"`
			Path    string `json:"path"`
			Bytes   int64  `json:"bytes"`
			Resumed int64  `json:"resumed"`
			Code    string `json:"code"`
		}
		if json.Unmarshal([]byte(line), &ev) == nil && ev.Message == "transfer" && ev.Path == args[1] {
			last = &ev
		}
	}
	switch {
	case last == nil:
		ts.Fatalf("s3-received: no transfer of %s in %s", args[1], args[0])
	case last.Code != "no_error":
		ts.Fatalf("s3-received: the transfer of %s ended with %s", args[1], last.Code)
	case last.Bytes > max:
		ts.Fatalf("s3-received: %s: got %d bytes received (%d resumed), want at most %d", args[1], last.Bytes, last.Resumed, max)
	}
	ts.Logf("s3-received: %s: %d bytes received, %d resumed", args[1], last.Bytes, last.Resumed)
}

package main

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/qxfer/qxfer/internal/testutil"
)

// The S3 root scripts' commands. Background servers on an S3 root run
// with qxfer-bg (so that a script can kill them); the AWS credentials
// pass to them.
func init() {
	scriptCmds["s3-bg"] = cmdS3Bg
	scriptCmds["s3-wait-parts"] = cmdS3WaitParts
	scriptCmds["s3-resume-bound"] = cmdS3ResumeBound
	scriptCmds["s3-nostate"] = cmdS3NoState
	scriptCmds["s3-wait-lease"] = cmdS3WaitLease
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

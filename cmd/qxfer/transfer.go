package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"

	"github.com/qxfer/qxfer/session"
)

// transferFlags are shared by push and pull.
type transferFlags struct {
	Recursive bool `name:"recursive" short:"r" help:"Copy directories recursively."`
	Parallel  int  `name:"parallel" short:"j" default:"8" env:"QXFER_PARALLEL" help:"Files moving bytes at once."`
	Force     bool `name:"force" short:"f" help:"Overwrite destination files that exist and differ."`
	NoResume  bool `name:"no-resume" help:"Start every file from the beginning, replacing partial (.part) files."`
	WholeFile bool `name:"whole-file" short:"W" help:"Send a file that replaces a differing destination (-f) whole, rather than only the chunks the destination lacks (delta transfer)."`
	Links     bool `name:"links" short:"l" xor:"links" help:"Copy symlinks inside a tree as symlinks (relative targets inside the tree only)."`
	CopyLinks bool `name:"copy-links" short:"L" xor:"links" help:"Follow symlinks to directories inside a tree too (by default links to files are followed and links to directories skipped); a link to a directory that holds it fails as symlink_loop."`
	filterFlags
	syncFlags
	clientFlags
	sessionFlags
	rateFlags
}

func (f *transferFlags) options() session.Options {
	o := session.Options{Recursive: f.Recursive, Force: f.Force, Parallel: f.Parallel, NoResume: f.NoResume, WholeFile: f.WholeFile}
	switch {
	case f.CopyLinks:
		o.Links = session.LinksFollow
	case f.Links:
		o.Links = session.LinksCopy
	}
	return o
}

// maxParallel keeps -j well within the server's stream limit (1024 per
// connection, quicx.Config), so parallel streams never stall.
const maxParallel = 256

// check validates what push and pull share: at least two arguments and a
// --parallel within range.
func (f *transferFlags) check(args []string, short, usage string) error {
	if len(args) < 2 {
		return withExit(exitUsage, errors.New(short), usage)
	}
	if f.Parallel < 1 || f.Parallel > maxParallel {
		return withExit(exitUsage, fmt.Errorf("--parallel must be between 1 and %d", maxParallel))
	}
	return nil
}

// transfer connects to r and runs one batch (verb push or pull): move
// does the moving with the flags' options, and the summary says done
// ("pushed" or "pulled").
func (f *transferFlags) transfer(ctx context.Context, e *env, r remote, verb, done string, move func(*session.Session, session.Options) (*session.Report, error)) error {
	opts := f.options()
	var err error
	if opts.RateLimit, err = f.limiter(); err != nil {
		return err
	}
	if opts.Filter, err = f.filter(); err != nil {
		return err
	}
	if err := f.syncFlags.apply(&opts); err != nil {
		return err
	}
	limitMemory(f.Parallel, f.Connections)
	c, err := f.connect(ctx, e, r, &f.sessionFlags)
	if err != nil {
		return err
	}
	b := startBatch(e, c, verb, r.Addr())
	rep, err := move(c, b.options(opts))
	return finish(ctx, e, c, b, rep, err, done)
}

type pushCmd struct {
	transferFlags
	Args []string `arg:"" name:"LOCAL... HOST[:PORT]:REMOTE" predictor:"remote" help:"Local files or directories, then the remote target: a directory to upload into when it exists as one, ends in / or there are several sources; otherwise the one source is written under that name (as cp and scp do)."`
}

// Run uploads.
func (p *pushCmd) Run(ctx context.Context, e *env) error {
	if err := p.check(p.Args, "push needs at least one local path and a remote target", "usage: qxfer push [-r] LOCAL... HOST[:PORT]:REMOTE"); err != nil {
		return err
	}
	dst, err := parseRemote(p.Args[len(p.Args)-1])
	if err != nil {
		return withExit(exitUsage, err, "the last argument is the remote target, for example host:uploads/ or host:4433:uploads/")
	}
	srcs := p.Args[:len(p.Args)-1]
	if err := checkLocalSources(srcs, p.Recursive); err != nil {
		return err
	}
	return p.transfer(ctx, e, dst, "push", "pushed", func(c *session.Session, opts session.Options) (*session.Report, error) {
		if remoteIntoDir(ctx, c, dst.Path, len(srcs)) {
			return c.Push(ctx, srcs, trimRoot(dst.Path), opts)
		}
		return c.PushFile(ctx, srcs[0], trimRoot(dst.Path), opts)
	})
}

// checkLocalSources checks, before connecting, what a push can check
// locally: every source exists and a directory comes with -r. Each
// problem is one line; together they are a usage error (exit 2) and
// nothing is sent.
func checkLocalSources(srcs []string, recursive bool) error {
	var errs []string
	for _, src := range srcs {
		fi, err := os.Stat(src)
		switch {
		case err != nil:
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			errs = append(errs, fmt.Sprintf("%s: %v", printable(src), err))
		case fi.IsDir() && !recursive:
			errs = append(errs, fmt.Sprintf("%s is a directory (use -r)", printable(src)))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return withExit(exitUsage, lineErrors(errs), "nothing was sent")
}

type pullCmd struct {
	transferFlags
	Args []string `arg:"" name:"HOST[:PORT]:REMOTE... LOCAL" predictor:"remote" help:"Remote files or directories (all on one server), then the local target: a directory to download into when it exists as one, ends in / or there are several sources; otherwise the one source is written under that name (as cp and scp do)."`
}

// Run downloads.
func (p *pullCmd) Run(ctx context.Context, e *env) error {
	if err := p.check(p.Args, "pull needs at least one remote path and a local target", "usage: qxfer pull [-r] HOST[:PORT]:REMOTE... LOCAL"); err != nil {
		return err
	}
	var srcs []string
	var first remote
	for i, a := range p.Args[:len(p.Args)-1] {
		r, err := parseRemote(a)
		if err != nil {
			return withExit(exitUsage, err, "every argument but the last is HOST[:PORT]:PATH")
		}
		if i == 0 {
			first = r
		} else if r.Addr() != first.Addr() {
			return withExit(exitUsage, fmt.Errorf("%s and %s are on different servers", p.Args[0], a), "pull from one server at a time")
		}
		srcs = append(srcs, trimRoot(r.Path))
	}
	dst := p.Args[len(p.Args)-1]
	into := localIntoDir(dst, len(srcs))
	if fi, err := os.Stat(dst); into && err == nil && !fi.IsDir() {
		return withExit(exitUsage, fmt.Errorf("%s is not a directory", dst), "several sources go into a directory; name one that exists or does not exist yet")
	}
	return p.transfer(ctx, e, first, "pull", "pulled", func(c *session.Session, opts session.Options) (*session.Report, error) {
		if into {
			return c.Pull(ctx, srcs, dst, opts)
		}
		return c.PullFile(ctx, srcs[0], dst, opts)
	})
}

// trimRoot maps a remote path to the server root: paths are always
// relative to --root, and a leading "/" names the root itself.
func trimRoot(p string) string {
	for len(p) > 0 && p[0] == '/' {
		p = p[1:]
	}
	if p == "" {
		return "."
	}
	return p
}

// finish takes the progress display down, closes the session (with
// CodeInterrupted after Ctrl-C, when ctx, the command's, has ended),
// prints the summary and returns the batch error.
func finish(ctx context.Context, e *env, c *session.Session, b *batch, rep *session.Report, err error, verb string) error {
	b.close()
	st := c.Stats()
	code, msg := session.CodeOK, ""
	if ctx.Err() != nil {
		code, msg = session.CodeInterrupted, "interrupted by user"
	}
	c.CloseWithCode(code, msg)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			err = withExit(exitInterrupted, errors.New("interrupted"))
		case errors.Is(err, session.ErrSessionLost):
			err = withExit(exitConnect, err)
		}
		b.summary(nil, st, err)
		return err
	}
	switch {
	case e.json:
		printFailures(e.stderr, rep)
		b.json.actions(map[bool]string{true: evAction, false: evDeleted}[rep.DryRun], rep.Actions)
	case rep.DryRun:
		printFailures(e.stderr, rep)
		printActions(e.stdout, rep.Actions)
		printDryRunSummary(e.stdout, rep)
	default:
		printActions(e.stdout, rep.Actions)
		printSummary(e.stdout, e.stderr, rep, verb)
		if !e.quiet {
			printDetails(e.stdout, rep, st, verb)
		}
	}
	err = batchError(rep.Err())
	if errors.Is(err, session.ErrMaxDelete) {
		err = withExit(exitFailed, err, "run with --dry-run to see what would be deleted, then raise --max-delete or leave it out")
	}
	b.summary(rep, st, err)
	return err
}

func displayPath(f session.TransferInfo) string {
	if f.Dir == session.Pull || f.Local == "" {
		return f.Path
	}
	return f.Local
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// limitMemory makes session.MemoryBudget of a batch of parallel files
// over --connections the Go runtime's soft memory limit, unless the
// environment sets GOMEMLIMIT (the user's limit wins). With auto, the
// budget is for the most connections auto may open. Issue 17: the Linux
// kernel tree's push peaked at 76 MB of client RSS with the collector's
// default headroom, 56 MB under its budget (40 MiB at -j 8 on one
// connection), for 10 to 25% more client CPU.
func limitMemory(parallel int, connections string) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	conns := session.DefaultMaxConnections
	if pc, err := parseConnections(connections); err == nil && !pc.Auto {
		conns = pc.Size
	}
	debug.SetMemoryLimit(session.MemoryBudget(parallel, conns))
}

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/qxfer/qxfer/session"
)

type shellCmd struct {
	clientFlags
	sessionFlags
	rateFlags
	Parallel int    `name:"parallel" short:"j" default:"8" env:"QXFER_PARALLEL" help:"Files moving bytes at once, per command."`
	Force    bool   `name:"force" short:"f" help:"Overwrite destination files that exist and differ."`
	Target   string `arg:"" name:"HOST[:PORT][:PATH]" predictor:"host" help:"Server to open a session with, and the remote directory to start in (default: the root)."`
}

const shellHelp = `commands:
  put LOCAL [REMOTE]   upload a file or directory (in the background)
  get REMOTE [LOCAL]   download a file or directory (in the background)
  ls [PATH]            list a remote directory
  cd PATH              change the remote directory
  lcd PATH             change the local directory
  pwd                  print the remote and local directories
  jobs                 list transfers: id, direction, name, bytes, rate, state
  cancel ID            cancel one running transfer
  wait                 wait until every transfer has ended
  help                 this text
  quit                 wait for running transfers, then leave
`

// shell is one interactive session. Transfers run in background
// goroutines owned by wg; the command loop stays responsive. The
// command's context reaches every command and transfer as an argument:
// once it ends (Ctrl-C outside the shell's own line editing, SIGTERM),
// transfers stop and the shell reads no more commands.
type shell struct {
	e    *env
	c    *session.Session
	opts session.Options
	out  io.Writer // results
	errw io.Writer // messages
	wg   sync.WaitGroup

	cwd  string // remote, clean, relative to the server root
	lcwd string // local, absolute

	// mu guards the following fields.
	mu     sync.Mutex
	jobs   map[uint64]session.TransferInfo // every transfer started here
	failed int
}

// Run opens the session and reads commands until quit or end of input.
func (s *shellCmd) Run(ctx context.Context, e *env) error {
	r, err := parseHostArg(s.Target)
	if err != nil {
		return withExit(exitUsage, err)
	}
	if s.Parallel < 1 || s.Parallel > maxParallel {
		return withExit(exitUsage, fmt.Errorf("--parallel must be between 1 and %d", maxParallel))
	}
	limit, err := s.limiter()
	if err != nil {
		return err
	}
	c, err := s.connect(ctx, e, r, &s.sessionFlags)
	if err != nil {
		return err
	}
	lcwd, _ := os.Getwd()
	sh := &shell{e: e, c: c, out: printableWriter{e.stdout}, errw: printableWriter{e.stderr}, cwd: trimRoot(r.Path), lcwd: lcwd, jobs: map[uint64]session.TransferInfo{}}
	sh.opts = session.Options{Recursive: true, Force: s.Force, Parallel: s.Parallel, Observer: sh.observe, RateLimit: limit}
	if f := os.Stdin; term.IsTerminal(int(f.Fd())) && e.stdout == os.Stdout {
		err = sh.interactive(ctx, f)
	} else {
		err = sh.script(ctx, os.Stdin)
	}
	sh.wg.Wait()
	code, msg := session.CodeOK, ""
	if ctx.Err() != nil {
		code, msg = session.CodeInterrupted, "interrupted by user"
	}
	c.CloseWithCode(code, msg)
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return withExit(exitInterrupted, errors.New("interrupted"))
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.failed > 0 {
		return withExit(exitFailed, fmt.Errorf("%d %s failed or cancelled", sh.failed, plural(sh.failed, "transfer", "transfers")))
	}
	return nil
}

// script reads one command per line, without prompts or escape codes,
// until the end of r or of ctx.
func (sh *shell) script(ctx context.Context, r io.Reader) error {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if sh.exec(ctx, sc.Text()) {
			return nil
		}
		if ctx.Err() != nil {
			return nil
		}
	}
	return sc.Err()
}

// interactive reads commands with line editing and history. Ctrl-C
// cancels the running transfers; Ctrl-D on an empty line quits.
func (sh *shell) interactive(ctx context.Context, in *os.File) error {
	old, err := term.MakeRaw(int(in.Fd()))
	if err != nil {
		return sh.script(ctx, in)
	}
	defer term.Restore(int(in.Fd()), old)
	t := term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{in, os.Stdout}, "qxfer> ")
	t.AutoCompleteCallback = func(line string, pos int, key rune) (string, int, bool) {
		if key == 3 { // Ctrl-C
			n := 0
			for _, ti := range sh.c.Transfers().Snapshot() {
				if sh.c.Transfers().Cancel(ti.ID) {
					n++
				}
			}
			fmt.Fprintf(t, "^C cancelled %d %s\n", n, plural(n, "transfer", "transfers"))
			return "", 0, true
		}
		return "", 0, false
	}
	sh.out, sh.errw = printableWriter{t}, printableWriter{t}
	for {
		line, err := t.ReadLine()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if sh.exec(ctx, line) {
			return nil
		}
	}
}

// exec runs one command line; it reports whether the shell should end.
// Transfers it starts run under ctx.
func (sh *shell) exec(ctx context.Context, line string) bool {
	args := splitArgs(line)
	if len(args) == 0 {
		return false
	}
	cmd, args := args[0], args[1:]
	var err error
	switch cmd {
	case "quit", "exit", "bye":
		return true
	case "help", "?":
		fmt.Fprint(sh.out, shellHelp)
	case "pwd":
		fmt.Fprintf(sh.out, "remote: /%s\nlocal: %s\n", strings.TrimPrefix(sh.cwd, "."), sh.lcwd)
	case "ls":
		err = sh.ls(ctx, args)
	case "cd":
		err = sh.cd(ctx, args)
	case "lcd":
		err = sh.lcd(args)
	case "put", "get":
		if cmd == "put" {
			err = sh.put(ctx, args)
		} else {
			err = sh.get(ctx, args)
		}
		if err != nil {
			// A transfer that could not even start counts as failed
			// for the exit status.
			sh.mu.Lock()
			sh.failed++
			sh.mu.Unlock()
		}
	case "jobs":
		sh.printJobs()
	case "cancel":
		err = sh.cancel(args)
	case "wait":
		sh.wg.Wait()
	default:
		err = fmt.Errorf("unknown command %q", cmd)
		fmt.Fprint(sh.errw, shellHelp)
	}
	if err != nil {
		fmt.Fprintf(sh.errw, "qxfer: %s\n", printable(errMessage(err)))
	}
	return false
}

// splitArgs splits on blanks; double or single quotes group words with
// spaces (`put "my file.txt"`).
func splitArgs(line string) []string {
	var out []string
	var cur strings.Builder
	var quote rune
	in := false
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote == 0 && (r == '"' || r == '\''):
			quote, in = r, true
		case quote == 0 && (r == ' ' || r == '\t'):
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

func (sh *shell) remotePath(p string) string {
	if strings.HasPrefix(p, "/") {
		return trimRoot(p)
	}
	return trimRoot(path.Join(sh.cwd, p))
}

func (sh *shell) localPath(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(sh.lcwd, p)
}

func (sh *shell) ls(ctx context.Context, args []string) error {
	p := sh.cwd
	if len(args) > 0 {
		p = sh.remotePath(args[0])
	}
	ents, err := sh.c.List(ctx, p)
	if err != nil {
		return err
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name < ents[j].Name })
	for _, en := range ents {
		name := en.Name
		if en.IsDir() {
			name += "/"
		}
		fmt.Fprintf(sh.out, "%12d %s %s\n", en.Size, en.MTime.Local().Format(time.DateTime), printable(name))
	}
	return nil
}

func (sh *shell) cd(ctx context.Context, args []string) error {
	return chdir(&sh.cwd, "cd", args, sh.remotePath, func(p string) (session.Entry, error) { return sh.c.Stat(ctx, p) })
}

func (sh *shell) lcd(args []string) error {
	return chdir(&sh.lcwd, "lcd", args, sh.localPath, os.Stat)
}

// chdir sets *wd to the one PATH in args (of command cmd), as resolve
// makes it, once stat says it is a directory.
func chdir[E interface{ IsDir() bool }](wd *string, cmd string, args []string, resolve func(string) string, stat func(string) (E, error)) error {
	if len(args) != 1 {
		return errors.New("usage: " + cmd + " PATH")
	}
	p := resolve(args[0])
	en, err := stat(p)
	if err != nil {
		return err
	}
	if !en.IsDir() {
		return fmt.Errorf("%s is not a directory", p)
	}
	*wd = p
	return nil
}

// put starts an upload in the background. LOCAL, a file or a directory
// (recursively), goes into the remote directory, or to REMOTE if given:
// into it when it is a directory (remoteIntoDir), else as it.
func (sh *shell) put(ctx context.Context, args []string) error {
	if len(args) < 1 || len(args) > 2 {
		return errors.New("usage: put LOCAL [REMOTE]")
	}
	local := sh.localPath(args[0])
	if _, err := os.Stat(local); err != nil {
		return err
	}
	dest, intoDir := sh.cwd, true
	if len(args) == 2 {
		dest = sh.remotePath(args[1])
		if strings.HasSuffix(args[1], "/") {
			dest += "/"
		}
		intoDir = remoteIntoDir(ctx, sh.c, dest, 1)
		dest = trimRoot(dest)
	}
	sh.background(func() (*session.Report, error) {
		if intoDir {
			return sh.c.Push(ctx, []string{local}, dest, sh.opts)
		}
		return sh.c.PushFile(ctx, local, dest, sh.opts)
	})
	return nil
}

// get starts a download in the background, into the local directory, or
// to LOCAL if given: into it when it is a directory (localIntoDir), else
// as it.
func (sh *shell) get(ctx context.Context, args []string) error {
	if len(args) < 1 || len(args) > 2 {
		return errors.New("usage: get REMOTE [LOCAL]")
	}
	remote := sh.remotePath(args[0])
	if _, err := sh.c.Stat(ctx, remote); err != nil {
		return err
	}
	dest, intoDir := sh.lcwd, true
	if len(args) == 2 {
		dest = sh.localPath(args[1])
		if strings.HasSuffix(args[1], "/") {
			dest += string(filepath.Separator)
		}
		intoDir = localIntoDir(dest, 1)
	}
	sh.background(func() (*session.Report, error) {
		if intoDir {
			return sh.c.Pull(ctx, []string{remote}, dest, sh.opts)
		}
		return sh.c.PullFile(ctx, remote, dest, sh.opts)
	})
	return nil
}

// background runs a transfer command in a goroutine owned by the shell.
func (sh *shell) background(run func() (*session.Report, error)) {
	sh.wg.Go(func() {
		rep, err := run()
		if err != nil {
			sh.mu.Lock()
			sh.failed++
			sh.mu.Unlock()
			fmt.Fprintf(sh.errw, "qxfer: %s\n", printable(errMessage(err)))
			return
		}
		_ = rep // per-file outcomes arrive through observe
	})
}

// observe records transfers as they start and end, and reports ends.
func (sh *shell) observe(ti session.TransferInfo) {
	sh.mu.Lock()
	sh.jobs[ti.ID] = ti
	if ti.State == session.Failed || ti.State == session.Cancelled {
		sh.failed++
	}
	sh.mu.Unlock()
	switch ti.State {
	case session.Done:
		fmt.Fprintf(sh.out, "[%d] done %s %s (%s)\n", ti.ID, ti.Dir, printable(ti.Path), humanBytes(ti.Bytes))
	case session.Skipped:
		fmt.Fprintf(sh.out, "[%d] up to date %s\n", ti.ID, printable(ti.Path))
	case session.Failed, session.Cancelled:
		fmt.Fprintf(sh.out, "[%d] %s %s %s\n", ti.ID, ti.State, ti.Dir, printable(errMessage(ti.Err)))
	}
}

func (sh *shell) printJobs() {
	sh.mu.Lock()
	all := make(map[uint64]session.TransferInfo, len(sh.jobs))
	for id, ti := range sh.jobs {
		all[id] = ti
	}
	sh.mu.Unlock()
	for _, ti := range sh.c.Transfers().Snapshot() {
		if prev, ok := all[ti.ID]; !ok || !prev.State.Ended() {
			all[ti.ID] = ti
		}
	}
	ids := make([]uint64, 0, len(all))
	for id := range all {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	tw := tabwriter.NewWriter(sh.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tDIR\tNAME\tBYTES\tRATE\tSTATE")
	for _, id := range ids {
		ti := all[id]
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s/%s\t%s/s\t%s\n", ti.ID, ti.Dir, printable(ti.Path), humanBytes(ti.Bytes), humanBytes(ti.Size), humanBytes(int64(ti.Rate())), ti.State)
	}
	tw.Flush()
}

func (sh *shell) cancel(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: cancel ID")
	}
	var id uint64
	if _, err := fmt.Sscan(args[0], &id); err != nil {
		return fmt.Errorf("bad job id %q", args[0])
	}
	if !sh.c.Transfers().Cancel(id) {
		return fmt.Errorf("no running transfer with id %d (see 'jobs')", id)
	}
	return nil
}

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
	"strings"
	"sync"

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
  put LOCAL [REMOTE]   upload files or a directory (in the background)
  get REMOTE [LOCAL]   download files or a directory (in the background)
  ls [PATH]            list a remote directory
  lls [PATH]           list a local directory
  cd PATH              change the remote directory
  lcd PATH             change the local directory
  pwd                  print the remote and local directories
  lpwd                 print the local directory
  mkdir PATH           create a remote directory (and missing parents)
  lmkdir PATH          create a local directory (and missing parents)
  rmdir PATH           remove an empty remote directory
  rm PATH...           remove remote files
  rename OLD NEW       rename a remote file or directory; NEW must not exist
  df [PATH]            size and free space of the server's file system
  jobs                 list put and get commands: id, direction, name, bytes, rate, state
  cancel ID            cancel one put or get
  wait                 wait until every transfer has ended
  help                 this text
  quit                 wait for running transfers, then leave
LOCAL and REMOTE of put, get, ls, lls and rm may hold wildcards (* ? [...]),
matched on the side that holds the files. Quote a name ('a b', "a*b") or
escape a character with a backslash (a\ b, a\*b) to take it literally.
Tab completes commands, and remote and local paths.
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

	// mu guards the following fields, and those of every job.
	mu        sync.Mutex
	jobs      []*job                     // every put and get, in command order
	lastJob   int                        // id of the latest job
	failed    int                        // transfers, and put and get commands, that failed or were cancelled
	cmdFailed int                        // mkdir, lmkdir, rmdir, rm and rename commands that failed
	listed    map[string][]session.Entry // remote listings, for completion
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
	sh := &shell{e: e, c: c, out: printableWriter{e.stdout}, errw: printableWriter{e.stderr}, cwd: trimRoot(r.Path), lcwd: lcwd, listed: map[string][]session.Entry{}}
	sh.opts = session.Options{Recursive: true, Force: s.Force, Parallel: s.Parallel, RateLimit: limit}
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
	var msgs []string
	if sh.failed > 0 {
		msgs = append(msgs, fmt.Sprintf("%d %s failed or cancelled", sh.failed, plural(sh.failed, "transfer", "transfers")))
	}
	if sh.cmdFailed > 0 {
		msgs = append(msgs, fmt.Sprintf("%d %s failed", sh.cmdFailed, plural(sh.cmdFailed, "file command", "file commands")))
	}
	if len(msgs) > 0 {
		return withExit(exitFailed, errors.New(strings.Join(msgs, ", ")))
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
		switch key {
		case 3: // Ctrl-C
			n := sh.cancelAll()
			fmt.Fprintf(t, "^C cancelled %d %s\n", n, plural(n, "job", "jobs"))
			return "", 0, true
		case '\t':
			return sh.complete(ctx, line, pos)
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
	words, err := splitWords(line)
	if err != nil {
		fmt.Fprintf(sh.errw, "qxfer: %s\n", err)
		return false
	}
	if len(words) == 0 {
		return false
	}
	cmd, args := words[0].lit, words[1:]
	switch cmd {
	case "quit", "exit", "bye":
		return true
	case "help", "?":
		fmt.Fprint(sh.out, shellHelp)
	case "pwd":
		sh.pwd()
	case "lpwd":
		sh.lpwd()
	case "ls":
		err = sh.ls(ctx, args)
	case "lls":
		err = sh.lls(ctx, args)
	case "cd":
		err = sh.cd(ctx, lits(args))
	case "lcd":
		err = sh.lcd(lits(args))
	case "mkdir":
		err = sh.mkdir(ctx, lits(args))
	case "lmkdir":
		err = sh.lmkdir(lits(args))
	case "rmdir":
		err = sh.rmdir(ctx, lits(args))
	case "rm":
		err = sh.rm(ctx, args)
	case "rename":
		err = sh.rename(ctx, lits(args))
	case "df":
		err = sh.df(ctx, lits(args))
	case "put", "get":
		if err = sh.transfer(ctx, cmd, args); err != nil {
			// A usage error counts as a failed transfer for the
			// exit status; put and get report their own failures.
			sh.mu.Lock()
			sh.failed++
			sh.mu.Unlock()
		}
	case "jobs":
		sh.printJobs()
	case "cancel":
		err = sh.cancel(lits(args))
	case "wait":
		sh.wg.Wait()
	default:
		err = fmt.Errorf("unknown command %q", cmd)
		fmt.Fprint(sh.errw, shellHelp)
	}
	if err != nil {
		for _, l := range strings.Split(errMessage(err), "\n") {
			fmt.Fprintf(sh.errw, "qxfer: %s\n", printable(l))
		}
		switch cmd {
		case "mkdir", "lmkdir", "rmdir", "rm", "rename":
			// A script must be able to tell that the tree is not
			// as it asked.
			sh.mu.Lock()
			sh.cmdFailed++
			sh.mu.Unlock()
		}
	}
	return false
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

// Help is the detail of "qxfer shell --help": the commands the shell
// reads, as its own help command prints them.
func (s *shellCmd) Help() string { return shellHelp }

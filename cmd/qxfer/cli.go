package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/qxfer/qxfer/certs"
)

// cli is the root of the command line.
type cli struct {
	Home      string `name:"home" env:"QXFER_HOME" placeholder:"DIR" help:"Directory holding identity, known_hosts and authorized_clients (default: $XDG_CONFIG_HOME/qxfer or ~/.config/qxfer)."`
	LogLevel  string `name:"log-level" env:"QXFER_LOG_LEVEL" default:"info" enum:"debug,info,warn,error" help:"Log level (${enum})."`
	LogFormat string `name:"log-format" env:"QXFER_LOG_FORMAT" default:"auto" enum:"auto,console,json" help:"Log format: console on a terminal and json otherwise when auto (${enum})."`
	Quiet     bool   `name:"quiet" short:"q" env:"QXFER_QUIET" help:"No progress bars, and only the first line of the summary (errors and security notices still print)."`
	JSON      bool   `name:"json" env:"QXFER_JSON" help:"Print JSON on stdout, one object per line: push and pull events instead of bars and summary, ls entries, doctor checks, version and id objects (see README, \"Machine-readable output\"); other commands refuse the flag."`

	Serve     serveCmd     `cmd:"" help:"Serve a directory to authorized clients."`
	Push      pushCmd      `cmd:"" help:"Upload files and directories (into a remote directory, or under a new name)."`
	Pull      pullCmd      `cmd:"" help:"Download remote files and directories (into a local directory, or under a new name)."`
	Ls        lsCmd        `cmd:"" help:"List a remote directory."`
	Shell     shellCmd     `cmd:"" help:"Open an interactive session (put, get, ls, cd, jobs, cancel...)."`
	ID        idCmd        `cmd:"" name:"id" help:"Print this installation's fingerprint."`
	Authorize authorizeCmd `cmd:"" help:"Let a client connect to this server: add its fingerprint to authorized_clients."`
	Version   versionCmd   `cmd:"" help:"Print the qxfer, protocol and quic-go versions."`

	Doctor     doctorCmd     `cmd:"" help:"Check this machine's UDP setup and, given a host, whether it answers, its round trip time and fingerprint."`
	Completion completionCmd `cmd:"" help:"Print a shell completion script (bash, zsh or fish)."`
}

// env is what every command's Run receives besides the context, which run
// binds on its own (kong.BindTo) so that it is passed, never stored: a
// command that blocks takes Run(ctx context.Context, e *env).
type env struct {
	stdout io.Writer
	stderr io.Writer
	log    zerolog.Logger
	home   string
	config *config     // $QXFER_HOME/config.toml; nil if there is none
	quiet  bool        // --quiet
	json   bool        // --json
	noteW  *noteWriter // messages for the user: stderr, or above the progress bars
	hook   eventHook   // connection events for the --json stream
}

// kongExit is raised (as a panic) when kong wants to exit, after --help
// for example, so that run still returns instead of calling os.Exit.
type kongExit int

// run parses args and runs the command; it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			k, ok := r.(kongExit)
			if !ok {
				panic(r)
			}
			code = int(k)
		}
	}()
	if len(args) > 0 && args[0] == completeCmd {
		return runComplete(stdout, stderr)
	}
	var c cli
	// The configuration file supplies defaults; it lives in the home
	// directory, which must be known before parsing. Without a home
	// directory there is no file, and c.home reports the problem below.
	var opts []kong.Option
	load := &configLoad{}
	if home, err := preHome(args, os.Getenv); err == nil {
		load.path = filepath.Join(home, configFile)
		opts = append(opts, load.option())
	}
	parser, err := newParser(&c, stdout, stderr, opts...)
	if err != nil {
		if load.err != nil {
			err = load.err // with its position and hints
		}
		printError(stderr, err)
		return exitUsage
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		var ce *configError
		if errors.As(err, &ce) {
			printError(stderr, ce)
			return exitUsage
		}
		var pe *kong.ParseError
		if errors.As(err, &pe) {
			fmt.Fprintf(stderr, "qxfer: %s\n", err)
			fmt.Fprintln(stderr, "hint: run 'qxfer --help' for usage")
			return exitUsage
		}
		printError(stderr, err)
		return exitUsage
	}
	notes := &noteWriter{stderr: stderr}
	e := &env{stdout: stdout, stderr: stderr, log: c.logger(notes), config: load.cfg, quiet: c.Quiet, json: c.JSON, noteW: notes}
	e.home, err = c.home()
	if err != nil {
		printError(stderr, err)
		return exitUsage
	}
	if err := checkJSON(kctx.Command(), args, c.JSON); err != nil {
		printError(stderr, err)
		return exitUsage
	}
	kctx.BindTo(ctx, (*context.Context)(nil))
	if err := kctx.Run(e); err != nil {
		printError(stderr, err)
		return exitCode(err)
	}
	return exitOK
}

// jsonCommands are the commands with JSON output (README, "Machine-
// readable output").
var jsonCommands = map[string]bool{"push": true, "pull": true, "ls": true, "id": true, "version": true, "doctor": true}

// checkJSON refuses --json on the command line of a command without JSON
// output (serve, shell, completion): it would print plain text. From
// $QXFER_JSON alone it is a default that such commands ignore.
func checkJSON(command string, args []string, on bool) error {
	name, _, _ := strings.Cut(command, " ")
	if !on || jsonCommands[name] {
		return nil
	}
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "--json" || strings.HasPrefix(a, "--json=") {
			return withExit(exitUsage, fmt.Errorf("--json: %s has no JSON output", name), "push, pull, ls, id, version and doctor have; see README, \"Machine-readable output\"")
		}
	}
	return nil
}

// newParser builds the kong parser for c; run and the completion use it.
func newParser(c *cli, stdout, stderr io.Writer, opts ...kong.Option) (*kong.Kong, error) {
	return kong.New(c, append([]kong.Option{
		kong.Name("qxfer"),
		kong.Description("Move files over QUIC: one connection, a stream per file, mutual TLS."),
		kong.UsageOnError(),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(kongExit(code)) }),
		rawStrings(),
	}, opts...)...)
}

func (c *cli) home() (string, error) {
	if c.Home != "" {
		return filepath.Abs(c.Home)
	}
	return certs.Home(os.Getenv)
}

// logger builds the process logger: human console output on a terminal,
// JSON lines otherwise (or as chosen).
func (c *cli) logger(w io.Writer) zerolog.Logger {
	lvl, err := zerolog.ParseLevel(c.LogLevel)
	if err != nil {
		lvl = zerolog.InfoLevel
	}
	format := c.LogFormat
	if format == "auto" {
		format = "json"
		if f, ok := stderrFile(w); ok && isatty.IsTerminal(f.Fd()) {
			format = "console"
		}
	}
	out := w
	if format == "console" {
		out = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(out).Level(lvl).With().Timestamp().Logger()
}

// identity loads or creates this installation's identity.
func (e *env) identity() (*certs.Identity, error) {
	id, created, err := certs.LoadOrCreate(e.home)
	if err != nil {
		return nil, fmt.Errorf("load identity: %w", err)
	}
	if created {
		fmt.Fprintf(e.stderr, "qxfer: created a new identity in %s\nqxfer: fingerprint %s\n", e.home, id.Fingerprint)
	}
	return id, nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/qxfer/qxfer/session"
)

// The shell's file commands: listing and moving around on both sides,
// and the remote tree changes sftp users reach for (mkdir, rmdir, rm,
// rename), each a request the server checks as it checks transfers.

// printEntries prints entries, one a line: size, modification time, name
// (a directory's with a "/").
func (sh *shell) printEntries(ents []session.Entry) {
	for _, en := range ents {
		name := en.Name
		if en.IsDir() {
			name += "/"
		}
		fmt.Fprintf(sh.out, "%12d %s %s\n", en.Size, en.MTime.Local().Format(time.DateTime), printable(name))
	}
}

func sortEntries(ents []session.Entry) {
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name < ents[j].Name })
}

// printMatches prints what a wildcard matched, named as the pattern names
// them; stat describes a match whose last element had no wildcard.
func (sh *shell) printMatches(ms []match, stat func(p string) (session.Entry, error)) error {
	ents := make([]session.Entry, 0, len(ms))
	var errs []error
	for _, m := range ms {
		var e session.Entry
		if m.ent != nil {
			e = *m.ent
		} else if st, err := stat(m.path); err == nil {
			e = st
		} else {
			errs = append(errs, err)
			continue
		}
		e.Name = m.shown
		ents = append(ents, e)
	}
	sh.printEntries(ents)
	return errors.Join(errs...)
}

// ls lists a remote directory (the remote directory by default). With
// wildcards it lists what they match, directories as themselves, named
// as the pattern names them.
func (sh *shell) ls(ctx context.Context, args []word) error {
	return sh.list(args, lister{
		cmd:  "ls",
		wd:   sh.cwd,
		path: sh.remotePath,
		list: func(p, _ string) ([]session.Entry, error) { return sh.listDir(ctx, p) },
		glob: func(w word) ([]match, error) { return sh.remoteGlob(ctx, w) },
		stat: func(p string) (session.Entry, error) { return sh.c.Stat(ctx, p) },
	})
}

// lls lists a local directory (the local directory by default), as ls.
func (sh *shell) lls(ctx context.Context, args []word) error {
	return sh.list(args, lister{
		cmd:  "lls",
		wd:   sh.lcwd,
		path: sh.localPath,
		list: func(p, shown string) ([]session.Entry, error) {
			fi, err := os.Stat(p)
			if err != nil {
				return nil, err
			}
			if !fi.IsDir() {
				return []session.Entry{localEntry(shown, fi)}, nil
			}
			return listLocal(ctx, p)
		},
		glob: func(w word) ([]match, error) { return sh.localGlob(ctx, w) },
		stat: func(p string) (session.Entry, error) {
			fi, err := os.Stat(p)
			if err != nil {
				return session.Entry{}, err
			}
			return localEntry(p, fi), nil
		},
	})
}

// lister is what ls and lls need of their side, the remote tree or the
// local one.
type lister struct {
	cmd  string              // the command, for its usage line
	wd   string              // the side's working directory, listed by default
	path func(string) string // a path as typed, resolved against wd
	// list returns the entries of directory p, or the entry of file p
	// named shown (the path as typed).
	list func(p, shown string) ([]session.Entry, error)
	glob func(word) ([]match, error)         // the matches of a word with wildcards
	stat func(string) (session.Entry, error) // describes a match its listing did not
}

// list is ls and lls: it prints the listing of the one PATH in args (the
// working directory when there is none), or what PATH matches when it
// holds wildcards.
func (sh *shell) list(args []word, l lister) error {
	if len(args) > 1 {
		return fmt.Errorf("usage: %s [PATH]", l.cmd)
	}
	if len(args) == 0 {
		return sh.printListing(l.list(l.wd, "."))
	}
	if !args[0].glob {
		return sh.printListing(l.list(l.path(args[0].lit), args[0].lit))
	}
	ms, err := l.glob(args[0])
	if err != nil {
		return err
	}
	return sh.printMatches(ms, l.stat)
}

func (sh *shell) cd(ctx context.Context, args []string) error {
	if err := chdir(&sh.cwd, "cd", args, sh.remotePath, func(p string) (session.Entry, error) { return sh.c.Stat(ctx, p) }); err != nil {
		return err
	}
	// Completion works from the listing of the new directory.
	sh.forget(sh.cwd)
	sh.listDir(ctx, sh.cwd)
	return nil
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

// mkdir creates a remote directory and its missing parents; one that
// exists already is not an error (the protocol's Mkdir, as mkdir -p).
func (sh *shell) mkdir(ctx context.Context, args []string) error {
	if len(args) != 1 {
		return errors.New("usage: mkdir PATH")
	}
	p := sh.remotePath(args[0])
	sh.forget(path.Dir(p))
	return sh.c.Mkdir(ctx, p)
}

// lmkdir creates a local directory and its missing parents.
func (sh *shell) lmkdir(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: lmkdir PATH")
	}
	return os.MkdirAll(sh.localPath(args[0]), 0o755)
}

// rmdir removes an empty remote directory.
func (sh *shell) rmdir(ctx context.Context, args []string) error {
	if len(args) != 1 {
		return errors.New("usage: rmdir PATH")
	}
	p := sh.remotePath(args[0])
	sh.forget(path.Dir(p))
	return sh.c.Remove(ctx, p, true)
}

// rm removes remote files (not directories: see rmdir), each PATH
// possibly with wildcards. It goes on after a failure and reports each.
func (sh *shell) rm(ctx context.Context, args []word) error {
	if len(args) == 0 {
		return errors.New("usage: rm PATH [PATH ...]")
	}
	var errs []error
	for _, w := range args {
		ms, err := sh.remoteGlob(ctx, w)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, m := range ms {
			sh.forget(path.Dir(m.path))
			if err := sh.c.Remove(ctx, m.path, false); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// rename gives a remote path a new name, which must not exist.
func (sh *shell) rename(ctx context.Context, args []string) error {
	if len(args) != 2 {
		return errors.New("usage: rename OLD NEW")
	}
	from, to := sh.remotePath(args[0]), sh.remotePath(args[1])
	sh.forget(path.Dir(from))
	sh.forget(path.Dir(to))
	return sh.c.Rename(ctx, from, to)
}

// df prints the size and free space of the server's file system holding
// PATH (the remote directory by default).
func (sh *shell) df(ctx context.Context, args []string) error {
	if len(args) > 1 {
		return errors.New("usage: df [PATH]")
	}
	p := sh.cwd
	if len(args) == 1 {
		p = sh.remotePath(args[0])
	}
	d, err := sh.c.Df(ctx, p)
	if err != nil {
		return err
	}
	used := d.Total - min(d.Free, d.Total)
	pct := 0
	if used+d.Avail > 0 {
		// As df(1): used over what the server's user could hold.
		pct = int((used*100 + used + d.Avail - 1) / (used + d.Avail))
	}
	tw := tabwriter.NewWriter(sh.out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "SIZE\tUSED\tAVAIL\tUSE%\tINODES\tIFREE\t")
	fmt.Fprintf(tw, "%s\t%s\t%s\t%d%%\t%d\t%d\t\n", humanBytes(int64(min(d.Total, 1<<62))), humanBytes(int64(min(used, 1<<62))), humanBytes(int64(min(d.Avail, 1<<62))), pct, d.Files, d.FilesFree)
	return tw.Flush()
}

// pwd prints the remote and local directories.
func (sh *shell) pwd() {
	fmt.Fprintf(sh.out, "remote: /%s\nlocal: %s\n", strings.TrimPrefix(sh.cwd, "."), sh.lcwd)
}

// lpwd prints the local directory.
func (sh *shell) lpwd() { fmt.Fprintf(sh.out, "local: %s\n", sh.lcwd) }

// printListing prints the entries of a directory listing, sorted, or
// returns the listing's error.
func (sh *shell) printListing(ents []session.Entry, err error) error {
	if err != nil {
		return err
	}
	sortEntries(ents)
	sh.printEntries(ents)
	return nil
}

// Command qxfer moves files over QUIC: one connection per session, a
// stream per file, mutual TLS with pinned fingerprints. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, restore the default handling so a second
		// Ctrl-C ends the process at once.
		<-ctx.Done()
		stop()
	}()
	if path := os.Getenv("QXFER_CPUPROFILE"); path != "" {
		// For developers measuring qxfer (see bench/README.md).
		if f, err := os.Create(path); err == nil {
			pprof.StartCPUProfile(f)
			defer f.Close()
		}
	}
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	pprof.StopCPUProfile()
	stop()
	os.Exit(code)
}

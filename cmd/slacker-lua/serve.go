package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/slacker-lua/slacker-lua/server"
)

// runServe runs a server of the flags' configuration until ctx ends
// (SIGINT or SIGTERM), then shuts it down gracefully; SIGHUP rescans.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("serve", "[flags] DIR", serveHelp, stderr)
	var f serveFlags
	f.register(fs)
	if code, done := parseCommandLine(fs, args, stdout, nargs{1, 1, "exactly one folder to serve"}); done {
		return code
	}
	usage := func(err error) int {
		return usageError(stderr, "serve", "%v", err)
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "slacker-lua serve: want exactly one folder to serve")
		fs.Usage()
		return exitUsage
	}
	log, err := newLogger(stderr, f.logFormat, f.logLevel)
	if err != nil {
		return usage(err)
	}
	cfg, err := f.config(fs.Arg(0))
	if err != nil {
		return usage(err)
	}
	cfg.Logger = log
	instance := f.cluster.advertise
	if instance == "" {
		instance = f.listen
	}
	tp, stopTracing, err := f.trace.provider(instance, log)
	if err != nil {
		return usage(err)
	}
	defer stopTracing()
	if tp != nil {
		cfg.TracerProvider = tp
		log.Info("tracing", "otlp_endpoint", f.trace.endpoint, "sample", f.trace.sample)
	}
	srv, err := server.New(cfg)
	if err != nil {
		return usage(err)
	}
	if f.pprof != "" {
		prof, err := startPprof(f.pprof, log)
		if err != nil {
			log.Error("cannot serve profiles", "err", err)
			return exitError
		}
		defer prof.close()
	}
	// From here on SIGHUP means rescan, not the end of the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	ran := make(chan error, 1)
	go func() { ran <- srv.Run(context.Background()) }()
	ready, rescan := srv.Ready(), false // a SIGHUP while loading waits
	for {
		select {
		case err := <-ran:
			log.Error("cannot serve", "err", err)
			return exitError
		case <-ready:
			ready = nil
		case <-hup:
			rescan = true
		case <-ctx.Done():
			return shutdown(srv, ran, f.shutdownTimeout, log)
		}
		if rescan && ready == nil {
			rescan = false
			if err := srv.Rescan(ctx); err != nil {
				log.Error("SIGHUP: cannot rescan", "err", err)
			}
		}
	}
}

// shutdown stops srv gracefully, within timeout, once SIGINT or SIGTERM
// came, and waits for its Run to return on ran.
func shutdown(srv *server.Server, ran <-chan error, timeout time.Duration, log *slog.Logger) int {
	log.Info("shutting down", "timeout", timeout.String())
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("calls cut off at shutdown", "err", err)
	}
	if err := <-ran; !errors.Is(err, server.ErrServerClosed) {
		log.Error("server stopped", "err", err)
		return exitError
	}
	log.Info("stopped")
	return exitOK
}

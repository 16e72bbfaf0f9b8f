package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/internal/loadgen"
)

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := newClientCommand("bench", "[flags] ADDR NAMESPACE/FUNCTION [ARG...]\n       slacker-lua bench [flags] --zk HOST:PORT,... --cluster NAME NAMESPACE/FUNCTION [ARG...]",
		"Calls a function again and again from concurrent callers, as redis-benchmark\n"+
			"does, and prints calls per second and the latency's p50, p99, p99.9 and max.\n"+
			"Each ARG is a JSON value, as for call. The callers share --conns connections\n"+
			"(with --zk, the cluster client's, one per server). A line of progress goes to\n"+
			"stderr every second. Exits 1 if a call failed.", stderr)
	cmd.withCluster("call the servers of the --cluster found there")
	callers := cmd.fs.Int("c", 64, "concurrent `callers`")
	calls := cmd.fs.Int("n", 100000, "`calls` to make in all, unless -d is given")
	duration := cmd.fs.Duration("d", 0, "call for this `long` instead of making -n calls")
	conns := cmd.fs.Int("conns", 1, "`connections` to the server, shared by the callers")
	warmup := cmd.fs.Duration("warmup", time.Second, "call for this `long` first, unmeasured")
	name, callArgs, code, ok := cmd.parseCall(args)
	if !ok {
		return code
	}
	switch {
	case *callers < 1:
		return usageError(stderr, "bench", "bad -c %d: want 1 or more", *callers)
	case *conns < 1:
		return usageError(stderr, "bench", "bad --conns %d: want 1 or more", *conns)
	case *calls < 1 && *duration == 0:
		return usageError(stderr, "bench", "bad -n %d: want 1 or more", *calls)
	case *duration < 0 || *warmup < 0:
		return usageError(stderr, "bench", "bad -d or --warmup: want 0 or more")
	case cmd.zk != "" && isSet(cmd.fs, "conns"):
		return usageError(stderr, "bench", "--conns goes without --zk: a cluster client has a connection per server")
	}
	var targets []client.Caller
	var where string
	if cmd.zk != "" {
		c, code := cmd.connectCluster(ctx)
		if c == nil {
			return code
		}
		defer c.Close()
		targets = []client.Caller{c}
		where = "cluster " + cmd.cluster
	} else {
		for range *conns {
			c, code := cmd.connect(ctx)
			if c == nil {
				return code
			}
			defer c.Close()
			targets = append(targets, c)
		}
		where = fmt.Sprintf("%s, %d connection%s", cmd.fs.Arg(0), *conns, plural(*conns))
	}
	// One call first: a function that fails is told at once.
	if _, err := targets[0].Call(ctx, name, callArgs...); err != nil {
		fmt.Fprintf(stderr, "slacker-lua bench: %s: %v\n", name, err)
		return exitError
	}
	cfg := loadgen.Config{Callers: *callers, Duration: *duration, Warmup: *warmup,
		Progress: func(calls, errs int64, elapsed time.Duration) {
			fmt.Fprintf(stderr, "%5.0fs  %d calls, %.0f calls/s, %d errors\n", elapsed.Seconds(), calls, float64(calls)/elapsed.Seconds(), errs)
		},
	}
	if *duration == 0 {
		cfg.Calls = *calls
	}
	given := cmd.fs.Args()
	given = given[len(given)-len(callArgs):] // the arguments as typed
	fmt.Fprintf(stdout, "%s(%s) on %s: %d caller%s, %s\n", name, strings.Join(given, ", "), where, *callers, plural(*callers), strings.ToLower(cmd.flags.contentType))
	res, err := loadgen.Run(ctx, cfg, func(ctx context.Context, caller int) error {
		_, err := targets[caller%len(targets)].Call(ctx, name, callArgs...)
		return err
	})
	if err != nil {
		fmt.Fprintln(stderr, "slacker-lua bench:", err)
		return exitError
	}
	fmt.Fprintf(stdout, "%d calls in %v: %.0f calls/s\n", res.Calls, res.Elapsed.Round(time.Millisecond), res.Rate())
	q := func(f float64) time.Duration { return loadgen.Round(res.Quantile(f)) }
	fmt.Fprintf(stdout, "latency p50 %v, p99 %v, p99.9 %v, max %v\n", q(0.5), q(0.99), q(0.999), q(1))
	if res.Errors > 0 {
		fmt.Fprintf(stdout, "%d calls failed; the first: %v\n", res.Errors, res.First)
		return exitError
	}
	return exitOK
}

func usageError(stderr io.Writer, cmd, format string, args ...any) int {
	fmt.Fprintf(stderr, "slacker-lua %s: %s\n", cmd, fmt.Sprintf(format, args...))
	return exitUsage
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/internal/loadgen"
)

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := newClientCommand("bench", "[flags] [ADDR] NAMESPACE/FUNCTION [ARG...]\n       slacker-lua bench [flags] --zk HOST:PORT,... --cluster NAME NAMESPACE/FUNCTION [ARG...]",
		"Calls a function again and again from concurrent callers, as redis-benchmark\n"+
			"does, decoding every result, and prints calls per second, the latency's p50,\n"+
			"p99, p99.9 and max, and the CPU time this process spent per call (the callers\n"+
			"and the client: what bench itself costs the machine the server shares). Each\n"+
			"ARG is a JSON value, as for call. The callers share --conns connections (with\n"+
			"--zk, the cluster client's, one per server). A line of progress goes to stderr\n"+
			"every second. Exits 1 if a call failed.", stdout, stderr)
	cmd.withCluster("call the servers of the --cluster found there")
	cmd.withArgs()
	var f benchFlags
	f.register(cmd.fs)
	name, callArgs, code, ok := cmd.parseCall(args, os.Stdin)
	if !ok {
		return code
	}
	if code, ok := f.check(cmd); !ok {
		return code
	}
	targets, where, code := benchTargets(ctx, cmd, f.conns)
	defer func() {
		for _, c := range targets {
			c.Close()
		}
	}()
	if code != exitOK {
		return code
	}
	// One call first: a function that fails is told at once.
	if _, err := targets[0].Call(ctx, name, callArgs...); err != nil {
		fmt.Fprintf(stderr, "slacker-lua bench: %s: %v\n", name, err)
		return exitError
	}
	given := cmd.fs.Args()
	given = given[len(given)-len(callArgs):] // the arguments as typed
	if !f.json {
		fmt.Fprintf(stdout, "%s(%s) on %s: %d caller%s, %s\n", name, strings.Join(given, ", "), where, f.callers, plural(f.callers), strings.ToLower(cmd.flags.contentType))
	}
	res, err := loadgen.Run(ctx, f.config(stderr), func(ctx context.Context, caller int) error {
		// Each result decoded, as its caller would.
		_, err := client.CallAs[any](ctx, targets[caller%len(targets)], name, callArgs...)
		return err
	})
	if err != nil {
		fmt.Fprintln(stderr, "slacker-lua bench:", err)
		return exitError
	}
	if f.json {
		return printBenchJSON(stdout, stderr, res)
	}
	return printBench(stdout, res)
}

// benchFlags are bench's flags besides those of every client command.
type benchFlags struct {
	callers, calls, conns int
	duration, warmup      time.Duration
	json                  bool
}

func (f *benchFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.callers, "c", 64, "concurrent `callers`")
	fs.IntVar(&f.calls, "n", 100000, "`calls` to make in all, unless -d is given")
	fs.DurationVar(&f.duration, "d", 0, "call for this `long` instead of making -n calls")
	fs.IntVar(&f.conns, "conns", 1, "`connections` to the server, shared by the callers")
	fs.DurationVar(&f.warmup, "warmup", time.Second, "call for this `long` first, unmeasured")
	fs.BoolVar(&f.json, "json", false, "print the figures as one JSON object, durations in microseconds")
}

// check checks the flags, once parsed; on a bad one it says why and
// returns the exit code.
func (f *benchFlags) check(cmd *clientCommand) (int, bool) {
	switch {
	case f.callers < 1:
		return cmd.usage("bad -c %d: want 1 or more", f.callers), false
	case f.conns < 1:
		return cmd.usage("bad --conns %d: want 1 or more", f.conns), false
	case f.calls < 1 && f.duration == 0:
		return cmd.usage("bad -n %d: want 1 or more", f.calls), false
	case f.duration < 0 || f.warmup < 0:
		return cmd.usage("bad -d or --warmup: want 0 or more"), false
	case cmd.cluster.zk != "" && isSet(cmd.fs, "conns"):
		return cmd.usage("--conns goes without --zk: a cluster client has a connection per server"), false
	}
	return 0, true
}

// config is the load to make, its progress reported on stderr.
func (f *benchFlags) config(stderr io.Writer) loadgen.Config {
	cfg := loadgen.Config{Callers: f.callers, Duration: f.duration, Warmup: f.warmup,
		Progress: func(calls, errs int64, elapsed time.Duration) {
			fmt.Fprintf(stderr, "%5.0fs  %d calls, %.0f calls/s, %d errors\n", elapsed.Seconds(), calls, float64(calls)/elapsed.Seconds(), errs)
		},
	}
	if f.duration == 0 {
		cfg.Calls = f.calls
	}
	return cfg
}

// target is a server or a cluster to call, closed when done with.
type target interface {
	client.Caller
	Close() error
}

// benchTargets connects to what cmd names, the cluster or conns times
// the server, and says what it is. On failure it has said why and
// returns the exit code, and the targets connected so far for the caller
// to close.
func benchTargets(ctx context.Context, cmd *clientCommand, conns int) ([]target, string, int) {
	if cmd.cluster.zk != "" {
		c, code := cmd.connectCluster(ctx)
		if c == nil {
			return nil, "", code
		}
		return []target{c}, "cluster " + cmd.cluster.name, exitOK
	}
	var targets []target
	for range conns {
		c, code := cmd.connect(ctx)
		if c == nil {
			return targets, "", code
		}
		targets = append(targets, c)
	}
	return targets, fmt.Sprintf("%s, %d connection%s", cmd.addr, conns, plural(conns)), exitOK
}

// printBench prints what the bench measured and returns the exit code:
// exitError if a call failed.
func printBench(stdout io.Writer, res loadgen.Result) int {
	fmt.Fprintf(stdout, "%d calls in %v: %.0f calls/s\n", res.Calls, res.Elapsed.Round(time.Millisecond), res.Rate())
	q := func(f float64) time.Duration { return loadgen.Round(res.Quantile(f)) }
	fmt.Fprintf(stdout, "latency p50 %v, p99 %v, p99.9 %v, max %v\n", q(0.5), q(0.99), q(0.999), q(1))
	if res.CPU > 0 {
		fmt.Fprintf(stdout, "CPU %v a call (bench and the client)\n", loadgen.Round(res.CPUPerCall()))
	}
	if res.Errors > 0 {
		fmt.Fprintf(stdout, "%d calls failed; the first: %v\n", res.Errors, res.First)
		return exitError
	}
	return exitOK
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// benchJSON is what bench --json prints: durations in microseconds.
type benchJSON struct {
	Calls       int64   `json:"calls"`
	Errors      int64   `json:"errors"`
	FirstError  string  `json:"first_error,omitempty"`
	Seconds     float64 `json:"seconds"`
	CallsPerSec float64 `json:"calls_per_second"`
	P50         float64 `json:"p50_us"`
	P99         float64 `json:"p99_us"`
	P999        float64 `json:"p99.9_us"`
	Max         float64 `json:"max_us"`
	CPUPerCall  float64 `json:"cpu_per_call_us,omitempty"` // left out where not measured
}

// printBenchJSON prints res as one line of JSON and returns the exit code,
// as printBench does.
func printBenchJSON(stdout, stderr io.Writer, res loadgen.Result) int {
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	out := benchJSON{Calls: res.Calls, Errors: res.Errors, Seconds: res.Elapsed.Seconds(), CallsPerSec: res.Rate(),
		P50: us(res.Quantile(0.5)), P99: us(res.Quantile(0.99)), P999: us(res.Quantile(0.999)), Max: us(res.Quantile(1)),
		CPUPerCall: us(res.CPUPerCall())}
	if res.First != nil {
		out.FirstError = res.First.Error()
	}
	b, err := json.Marshal(out)
	if err != nil {
		fmt.Fprintln(stderr, "slacker-lua bench:", err)
		return exitError
	}
	fmt.Fprintf(stdout, "%s\n", b)
	if res.Errors > 0 {
		return exitError
	}
	return exitOK
}

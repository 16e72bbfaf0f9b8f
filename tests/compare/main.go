// Command compare measures slacker-lua beside the systems people use for
// the same work, side by side, in one run: each server on 127.0.0.1,
// driven by the same load generator (internal/loadgen) at several counts
// of concurrent callers; Redis also by its own C client, redis-benchmark. It prints one table and writes a chart.
//
// All the servers run at once, and each point (workload, callers) is
// measured on every system in turn, in -rounds rounds, each round in
// another order: a machine that is slower for a while slows every system
// alike. The table has the median of the rounds.
//
//	go run . -d 3s -rounds 3 -png compare.png
//
// run.sh installs what is missing and runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/slacker-lua/slacker-lua/internal/loadgen"
)

// A system is a server under test, and how the load generator calls it.
type system struct {
	name string // its row in the table
	// start starts its server; bin is the folder of the harness's built
	// commands.
	start func(ctx context.Context, bin string) (*server, error)
	// dial connects to the server for the workload: call makes one call
	// and checks its answer.
	dial func(ctx context.Context, s *server, w workload) (call loadgen.Call, close func(), err error)
	// bench, if set, measures the system with its own benchmark program
	// instead of the load generator: it makes calls calls of w from
	// callers connections. dial then only checks, once per point, that
	// the server answers w rightly.
	bench func(ctx context.Context, s *server, w workload, callers int, calls int64) (benchRun, error)
}

// systems are the systems compared; each file adds its own, and main
// puts them in the table's order, that of kinds.
var systems []system

// kinds orders the systems by the start of their names: slacker-lua
// first, the yardstick last.
var kinds = []string{"slacker-lua", "redis", "grpc", "probe"}

func kind(name string) int {
	for i, k := range kinds {
		if strings.HasPrefix(name, k) {
			return i
		}
	}
	return len(kinds)
}

// A workload is the work of each call.
type workload struct {
	name string // "add": add(1, 2) is 3; "echo": echo(s) is s, a 1 KiB string
}

var (
	addWork  = workload{"add"}
	echoWork = workload{"echo"}
	// allWorkloads are the workloads, in the order of the chart's panels.
	allWorkloads = []workload{addWork, echoWork}
	echoArg      = strings.Repeat("slacker!", 128) // 1 KiB
)

// point is one measure, or the median of several: a system, a workload,
// a number of callers.
type point struct {
	system, workload string
	callers          int
	calls            int64   // calls that succeeded
	rate             float64 // calls per second
	p50, p99         time.Duration
	cpuPerCall       time.Duration // of the server process
	// of the load generator: the harness's process (see measurePoint),
	// or the system's own benchmark program
	clientCPUPerCall time.Duration
	rss              int64 // of the server process, bytes, at the end
	err              error
}

func main() {
	dur := flag.Duration("d", 5*time.Second, "how long to measure each point")
	warmup := flag.Duration("warmup", time.Second, "how long to call first, unmeasured, at each point")
	callersFlag := flag.String("callers", "1,16,64,256", "the counts of concurrent callers, comma-separated")
	only := flag.String("systems", "", "comma-separated substrings: the systems to run have one of them in their name; all if empty")
	onlyWork := flag.String("workloads", "add,echo", "the workloads to run, comma-separated: add, echo")
	rounds := flag.Int("rounds", 3, "how many times to measure each point; the table has the median")
	png := flag.String("png", "compare.png", "where to write the chart; none if empty")
	bin := flag.String("bin", "", "the folder of the harness's built commands (run.sh builds them)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the load generator to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	var callers []int
	for _, f := range strings.Split(*callersFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			log.Fatalf("bad -callers %q", *callersFlag)
		}
		callers = append(callers, n)
	}
	var works []workload
	for _, f := range strings.Split(*onlyWork, ",") {
		i := slices.IndexFunc(allWorkloads, func(w workload) bool { return w.name == strings.TrimSpace(f) })
		if i < 0 {
			log.Fatalf("bad -workloads %q", *onlyWork)
		}
		works = append(works, allWorkloads[i])
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	slices.SortStableFunc(systems, func(a, b system) int { return kind(a.name) - kind(b.name) })

	if *rounds < 1 {
		log.Fatalf("bad -rounds %d", *rounds)
	}
	var running []*runningSystem
	defer func() {
		for _, r := range running {
			r.srv.stop()
		}
	}()
	for _, sys := range systems {
		if !selected(sys.name, *only) {
			continue
		}
		srv, err := sys.start(ctx, *bin)
		if err != nil {
			log.Printf("%s: cannot start: %v", sys.name, err)
			continue
		}
		running = append(running, &runningSystem{sys: sys, srv: srv})
	}
	points := measure(ctx, running, works, callers, *rounds, *warmup, *dur)
	printTable(os.Stdout, points)
	if *png != "" {
		if err := chart(*png, points, callers); err != nil {
			log.Printf("chart: %v", err)
		}
	}
}

// selected reports whether the system name has one of the comma-separated
// substrings of only in it; all are selected if only is empty.
func selected(name, only string) bool {
	if only == "" {
		return true
	}
	for _, sub := range strings.Split(only, ",") {
		if sub != "" && strings.Contains(name, sub) {
			return true
		}
	}
	return false
}

// runningSystem is a system whose server runs.
type runningSystem struct {
	sys system
	srv *server
}

// measure measures each workload at each count of callers on every
// system, rounds times, each round starting with another system, and
// returns the median of each point.
func measure(ctx context.Context, running []*runningSystem, works []workload, callers []int, rounds int, warmup, dur time.Duration) []point {
	var points []point
	for _, w := range works {
		for _, n := range callers {
			all := make([][]point, len(running))
			for round := range rounds {
				for i := range running {
					k := (i + round) % len(running)
					r := running[k]
					res, err := measurePoint(ctx, r.sys, r.srv, w, n, warmup, dur)
					p := point{system: r.sys.name, workload: w.name, callers: n,
						calls: res.calls, rate: res.rate, p50: res.p50, p99: res.p99,
						cpuPerCall: res.perCall(res.serverCPU), clientCPUPerCall: res.perCall(res.clientCPU),
						rss: res.rss, err: err}
					if p.err != nil {
						log.Printf("%s %s, %d callers, round %d: %v", r.sys.name, w.name, n, round+1, p.err)
					} else {
						log.Printf("%s %s, %d callers, round %d: %s; CPU/call: server %v, client %v", r.sys.name, w.name, n, round+1,
							res.summary, p.cpuPerCall, p.clientCPUPerCall)
					}
					all[k] = append(all[k], p)
					if ctx.Err() != nil {
						return append(points, medians(all)...)
					}
				}
			}
			points = append(points, medians(all)...)
		}
	}
	return points
}

// medians returns, for each system's measures of one point, a point of
// their medians, each figure on its own; a system with a failed measure
// gets that measure's error.
func medians(all [][]point) []point {
	var out []point
	for _, ps := range all {
		if len(ps) == 0 {
			continue
		}
		m := ps[0]
		if i := slices.IndexFunc(ps, func(p point) bool { return p.err != nil }); i >= 0 {
			out = append(out, ps[i])
			continue
		}
		m.calls = median(ps, func(p point) int64 { return p.calls })
		m.rate = median(ps, func(p point) float64 { return p.rate })
		m.p50 = median(ps, func(p point) time.Duration { return p.p50 })
		m.p99 = median(ps, func(p point) time.Duration { return p.p99 })
		m.cpuPerCall = median(ps, func(p point) time.Duration { return p.cpuPerCall })
		m.clientCPUPerCall = median(ps, func(p point) time.Duration { return p.clientCPUPerCall })
		m.rss = median(ps, func(p point) int64 { return p.rss })
		out = append(out, m)
	}
	return out
}

// median is the median of f over ps: the middle one, or the lower of the
// two middle ones.
func median[T int64 | float64 | time.Duration](ps []point, f func(point) T) T {
	vs := make([]T, len(ps))
	for i, p := range ps {
		vs[i] = f(p)
	}
	slices.Sort(vs)
	return vs[(len(vs)-1)/2]
}

// measurePoint measures one point on a system: calls, latencies, and
// the CPU time per call of the server and of the load generator.
//
// The load generator's CPU is that of the harness's own process over the
// measured run, as loadgen measures it (getrusage RUSAGE_SELF): during a
// run the harness does nothing else but call (the servers are other
// processes, which RUSAGE_SELF leaves out), so that is the cost of the
// load generator and of the system's client library together, their
// garbage collection included. Per-goroutine accounting would leave out
// the client's own goroutines and the runtime's, which are part of what
// a user pays.
func measurePoint(ctx context.Context, sys system, srv *server, w workload, callers int, warmup, dur time.Duration) (benchRun, error) {
	if sys.bench != nil {
		return benchPoint(ctx, sys, srv, w, callers, warmup, dur)
	}
	call, closeFn, err := sys.dial(ctx, srv, w)
	if err != nil {
		return benchRun{}, err
	}
	defer closeFn()
	if warmup > 0 {
		if _, err := loadgen.Run(ctx, loadgen.Config{Callers: callers, Duration: warmup}, call); err != nil {
			return benchRun{}, err
		}
	}
	return measureServer(srv, func() (benchRun, error) {
		res, err := loadgen.Run(ctx, loadgen.Config{Callers: callers, Duration: dur}, call)
		if err != nil {
			return benchRun{}, err
		}
		r := benchRun{calls: res.Calls, rate: res.Rate(), p50: res.Quantile(0.5), p99: res.Quantile(0.99),
			clientCPU: res.CPU, summary: res.String()}
		if res.Errors > 0 {
			err = fmt.Errorf("%d calls failed; the first: %w", res.Errors, res.First)
		}
		return r, err
	})
}

// benchPoint measures one point with the system's own benchmark
// program, which makes a count of calls rather than calling for a time:
// runs of it warm up for warmup, and the last one's rate sizes the
// measured run to take about dur.
func benchPoint(ctx context.Context, sys system, srv *server, w workload, callers int, warmup, dur time.Duration) (benchRun, error) {
	call, closeFn, err := sys.dial(ctx, srv, w)
	if err != nil {
		return benchRun{}, err
	}
	err = call(ctx, 0)
	closeFn()
	if err != nil {
		return benchRun{}, err
	}
	n := int64(minBenchCalls)
	for begin := time.Now(); ; {
		r, err := sys.bench(ctx, srv, w, callers, n)
		if err != nil {
			return benchRun{}, err
		}
		n = benchCalls(r.rate, dur)
		left := warmup - time.Since(begin)
		if left <= 0 {
			break
		}
		n = benchCalls(r.rate, left)
		if ctx.Err() != nil {
			return benchRun{}, ctx.Err()
		}
	}
	return measureServer(srv, func() (benchRun, error) { return sys.bench(ctx, srv, w, callers, n) })
}

// minBenchCalls is the fewest calls a benchmark program is asked for.
const minBenchCalls = 1000

// benchCalls is how many calls take d at rate calls/s, at least
// minBenchCalls.
func benchCalls(rate float64, d time.Duration) int64 {
	return max(minBenchCalls, int64(rate*d.Seconds()))
}

// A benchRun is what one measured run found.
type benchRun struct {
	calls     int64   // calls that succeeded
	rate      float64 // calls per second
	p50, p99  time.Duration
	clientCPU time.Duration // CPU time of the load generator, in all
	ownCPU    time.Duration // per call, as a benchmark program measured itself
	serverCPU time.Duration // CPU time of the server, in all
	rss       int64         // of the server process, bytes, at the end
	summary   string        // a line for the log
}

// perCall divides d by the run's calls.
func (r benchRun) perCall(d time.Duration) time.Duration {
	if r.calls <= 0 {
		return 0
	}
	return d / time.Duration(r.calls)
}

// measureServer runs run and adds the server's CPU time over it and its
// memory at the end. A run that fails but made calls keeps its figures.
func measureServer(srv *server, run func() (benchRun, error)) (benchRun, error) {
	cpu0, err := srv.cpu()
	if err != nil {
		return benchRun{}, err
	}
	r, runErr := run()
	if r.calls == 0 && runErr != nil {
		return r, runErr
	}
	cpu1, err := srv.cpu()
	if err != nil {
		return r, err
	}
	r.serverCPU = cpu1 - cpu0
	if r.rss, err = srv.rss(); err != nil {
		return r, err
	}
	return r, runErr
}

// rows orders points for the table: by workload, then callers, then the
// systems' order.
func rows(points []point) []point {
	order := map[string]int{}
	for i, s := range systems {
		order[s.name] = i
	}
	out := slices.Clone(points)
	slices.SortStableFunc(out, func(a, b point) int {
		if a.workload != b.workload {
			return strings.Compare(a.workload, b.workload)
		}
		if a.callers != b.callers {
			return a.callers - b.callers
		}
		return order[a.system] - order[b.system]
	})
	return out
}

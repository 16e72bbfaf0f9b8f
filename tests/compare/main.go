// Command compare measures slacker-lua beside the systems people use for
// the same work, side by side, in one run: each server on 127.0.0.1,
// driven by the same load generator (internal/loadgen) at several counts
// of concurrent callers. It prints one table and writes a chart.
//
//	go run . -d 5s -png compare.png
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
	echoArg  = strings.Repeat("slacker!", 128) // 1 KiB
)

// point is one measure: a system, a workload, a number of callers.
type point struct {
	system, workload string
	callers          int
	res              loadgen.Result
	cpuPerCall       time.Duration // of the server process
	rss              int64         // of the server process, bytes, at the end
	err              error
}

func main() {
	dur := flag.Duration("d", 5*time.Second, "how long to measure each point")
	warmup := flag.Duration("warmup", time.Second, "how long to call first, unmeasured, at each point")
	callersFlag := flag.String("callers", "1,16,64,256", "the counts of concurrent callers, comma-separated")
	only := flag.String("systems", "", "a substring the systems to run must have in their name; all if empty")
	onlyWork := flag.String("workloads", "add,echo", "the workloads to run, comma-separated: add, echo")
	png := flag.String("png", "compare.png", "where to write the chart; none if empty")
	bin := flag.String("bin", "", "the folder of the harness's built commands (run.sh builds them)")
	flag.Parse()
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
		i := slices.IndexFunc([]workload{addWork, echoWork}, func(w workload) bool { return w.name == strings.TrimSpace(f) })
		if i < 0 {
			log.Fatalf("bad -workloads %q", *onlyWork)
		}
		works = append(works, []workload{addWork, echoWork}[i])
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	slices.SortStableFunc(systems, func(a, b system) int { return kind(a.name) - kind(b.name) })

	var points []point
	for _, sys := range systems {
		if *only != "" && !strings.Contains(sys.name, *only) {
			continue
		}
		pts := measure(ctx, sys, *bin, works, callers, *warmup, *dur)
		points = append(points, pts...)
		if ctx.Err() != nil {
			break
		}
	}
	printTable(os.Stdout, points)
	if *png != "" {
		if err := chart(*png, points, callers); err != nil {
			log.Printf("chart: %v", err)
		}
	}
}

// measure runs the workloads on sys at each count of callers, with its
// server started once.
func measure(ctx context.Context, sys system, bin string, works []workload, callers []int, warmup, dur time.Duration) []point {
	var points []point
	srv, err := sys.start(ctx, bin)
	if err != nil {
		log.Printf("%s: cannot start: %v", sys.name, err)
		return []point{{system: sys.name, err: err}}
	}
	defer srv.stop()
	for _, w := range works {
		for _, n := range callers {
			p := point{system: sys.name, workload: w.name, callers: n}
			p.res, p.cpuPerCall, p.rss, p.err = measurePoint(ctx, sys, srv, w, n, warmup, dur)
			if p.err != nil {
				log.Printf("%s %s, %d callers: %v", sys.name, w.name, n, p.err)
			} else {
				log.Printf("%s %s, %d callers: %v", sys.name, w.name, n, p.res)
			}
			points = append(points, p)
			if ctx.Err() != nil {
				return points
			}
		}
	}
	return points
}

func measurePoint(ctx context.Context, sys system, srv *server, w workload, callers int, warmup, dur time.Duration) (loadgen.Result, time.Duration, int64, error) {
	call, closeFn, err := sys.dial(ctx, srv, w)
	if err != nil {
		return loadgen.Result{}, 0, 0, err
	}
	defer closeFn()
	if warmup > 0 {
		if _, err := loadgen.Run(ctx, loadgen.Config{Callers: callers, Duration: warmup}, call); err != nil {
			return loadgen.Result{}, 0, 0, err
		}
	}
	cpu0, err := srv.cpu()
	if err != nil {
		return loadgen.Result{}, 0, 0, err
	}
	res, err := loadgen.Run(ctx, loadgen.Config{Callers: callers, Duration: dur}, call)
	if err != nil {
		return res, 0, 0, err
	}
	cpu1, err := srv.cpu()
	if err != nil {
		return res, 0, 0, err
	}
	rss, err := srv.rss()
	if err != nil {
		return res, 0, 0, err
	}
	var perCall time.Duration
	if res.Calls > 0 {
		perCall = (cpu1 - cpu0) / time.Duration(res.Calls)
	}
	if res.Errors > 0 {
		err = fmt.Errorf("%d calls failed; the first: %w", res.Errors, res.First)
	}
	return res, perCall, rss, err
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

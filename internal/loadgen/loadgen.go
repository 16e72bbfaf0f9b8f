// Package loadgen drives calls from concurrent callers and measures them:
// the load generator of slacker-lua bench and of the comparison harness,
// so that every system is measured the same way.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Config says how much load to make. Callers and one of Calls or Duration
// are required.
type Config struct {
	// Callers is the number of goroutines calling without pause.
	Callers int
	// Calls is how many calls to make in all; 0 means until Duration.
	Calls int
	// Duration is how long to call; 0 means until Calls are made.
	Duration time.Duration
	// Warmup is a time of calls not measured, first.
	Warmup time.Duration
	// Progress, if set, is called about once a second, from a goroutine of
	// Run's, with the calls and errors so far and the time since the
	// measure began.
	Progress func(calls, errors int64, elapsed time.Duration)
}

// Call makes one call; caller is the number of the goroutine calling,
// 0 to Callers-1.
type Call func(ctx context.Context, caller int) error

// Result is what Run measured.
type Result struct {
	Calls   int64         // calls that succeeded
	Errors  int64         // calls that failed
	Elapsed time.Duration // the time measured
	First   error         // the first error, if any
	// Latencies of the successful calls, sorted.
	latencies []time.Duration
}

// Rate returns the successful calls per second.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Calls) / r.Elapsed.Seconds()
}

// Quantile returns the latency below which fraction q of the successful
// calls ended (0.5 is the median); 1 gives the maximum.
func (r Result) Quantile(q float64) time.Duration {
	n := len(r.latencies)
	if n == 0 {
		return 0
	}
	i := int(q*float64(n)+0.5) - 1
	return r.latencies[min(max(i, 0), n-1)]
}

// String is a line of the result: calls/s and latency quantiles.
func (r Result) String() string {
	s := fmt.Sprintf("%.0f calls/s, %d calls in %v; latency p50 %v, p99 %v, p99.9 %v, max %v",
		r.Rate(), r.Calls, r.Elapsed.Round(time.Millisecond),
		round(r.Quantile(0.5)), round(r.Quantile(0.99)), round(r.Quantile(0.999)), round(r.Quantile(1)))
	if r.Errors > 0 {
		s += fmt.Sprintf("; %d errors, the first: %v", r.Errors, r.First)
	}
	return s
}

// Round rounds a latency to 3 or 4 significant digits, for people.
func Round(d time.Duration) time.Duration { return round(d) }

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	case d >= 10*time.Microsecond:
		return d.Round(time.Microsecond)
	}
	return d
}

// Run calls call from cfg.Callers goroutines until cfg.Calls are made,
// cfg.Duration has passed or ctx is done, and measures the calls made
// after the warm-up. Each goroutine keeps its own latencies, so the
// measure shares nothing between callers but two counters.
func Run(ctx context.Context, cfg Config, call Call) (Result, error) {
	switch {
	case cfg.Callers < 1:
		return Result{}, errors.New("loadgen: want 1 caller or more")
	case cfg.Calls < 0 || cfg.Duration < 0 || cfg.Warmup < 0:
		return Result{}, errors.New("loadgen: negative Calls, Duration or Warmup")
	case cfg.Calls == 0 && cfg.Duration == 0:
		return Result{}, errors.New("loadgen: want Calls or Duration")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		measuring atomic.Bool
		issued    atomic.Int64 // calls claimed, once measuring, against cfg.Calls
		calls     atomic.Int64
		errs      atomic.Int64
		firstErr  error
		errOnce   sync.Once
		wg        sync.WaitGroup
		mu        sync.Mutex
		all       [][]time.Duration
	)
	// Without a warm-up, every call is measured.
	begin := time.Now()
	measuring.Store(cfg.Warmup == 0)
	for i := range cfg.Callers {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 1024)
			defer func() {
				mu.Lock()
				all = append(all, lat)
				mu.Unlock()
			}()
			for ctx.Err() == nil {
				on := measuring.Load()
				if on && cfg.Calls > 0 && issued.Add(1) > int64(cfg.Calls) {
					return // the others finish theirs
				}
				start := time.Now()
				err := call(ctx, i)
				took := time.Since(start)
				if !on {
					continue
				}
				if err != nil {
					if ctx.Err() != nil {
						return // stopped in the middle: not the call's fault
					}
					errs.Add(1)
					errOnce.Do(func() { firstErr = err })
					continue
				}
				calls.Add(1)
				lat = append(lat, took)
			}
		})
	}

	if cfg.Warmup > 0 {
		select {
		case <-time.After(cfg.Warmup):
		case <-ctx.Done():
		}
	}
	if cfg.Warmup > 0 {
		begin = time.Now()
		measuring.Store(true)
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	var stop <-chan time.Time
	if cfg.Duration > 0 {
		t := time.NewTimer(cfg.Duration)
		defer t.Stop()
		stop = t.C
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
loop:
	for {
		select {
		case <-stop:
			cancel()
			break loop
		case <-finished:
			break loop
		case <-ctx.Done():
			break loop
		case <-tick.C:
			if cfg.Progress != nil {
				cfg.Progress(calls.Load(), errs.Load(), time.Since(begin))
			}
		}
	}
	elapsed := time.Since(begin)
	<-finished
	res := Result{Calls: calls.Load(), Errors: errs.Load(), Elapsed: elapsed, First: firstErr}
	res.latencies = slices.Concat(all...)
	slices.Sort(res.latencies)
	return res, nil
}

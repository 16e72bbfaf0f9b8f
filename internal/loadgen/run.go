package loadgen

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Call makes one call; caller is the number of the goroutine calling,
// 0 to Callers-1.
type Call func(ctx context.Context, caller int) error

// Run calls call from cfg.Callers goroutines until cfg.Calls are made,
// cfg.Duration has passed or ctx is done, and measures the calls made
// after the warm-up. Each goroutine keeps its own latencies, so the
// measure shares nothing between callers but two counters.
func Run(ctx context.Context, cfg Config, call Call) (Result, error) {
	if err := cfg.validate(); err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	r := &run{cfg: cfg, call: call}
	// Without a warm-up, every call is measured.
	begin := time.Now()
	cpu0, cpuOK := processCPU()
	r.measuring.Store(cfg.Warmup == 0)
	var wg sync.WaitGroup
	for i := range cfg.Callers {
		wg.Go(func() { r.caller(ctx, i) })
	}
	if cfg.Warmup > 0 {
		wait(ctx, cfg.Warmup)
		begin = time.Now()
		cpu0, cpuOK = processCPU()
		r.measuring.Store(true)
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	elapsed := r.watch(ctx, cancel, begin, finished)
	cpu1, cpu1OK := processCPU()
	<-finished
	res := r.result(elapsed)
	if cpuOK && cpu1OK {
		res.CPU = cpu1 - cpu0
	}
	return res, nil
}

// run is the state one Run's callers share.
type run struct {
	cfg       Config
	call      Call
	measuring atomic.Bool  // past the warm-up
	issued    atomic.Int64 // calls claimed, once measuring, against cfg.Calls
	calls     atomic.Int64
	errs      atomic.Int64
	errOnce   sync.Once
	firstErr  error

	mu  sync.Mutex
	all [][]time.Duration // the latencies of each caller that ended
}

// caller is the loop of caller i: it calls until ctx is done or, once
// measuring, cfg.Calls are claimed, and then hands its latencies in.
func (r *run) caller(ctx context.Context, i int) {
	lat := make([]time.Duration, 0, 1024)
	defer func() {
		r.mu.Lock()
		r.all = append(r.all, lat)
		r.mu.Unlock()
	}()
	for ctx.Err() == nil {
		on := r.measuring.Load()
		if on && r.cfg.Calls > 0 && r.issued.Add(1) > int64(r.cfg.Calls) {
			return // the others finish theirs
		}
		start := time.Now()
		err := r.call(ctx, i)
		took := time.Since(start)
		if !on {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return // stopped in the middle: not the call's fault
			}
			r.errs.Add(1)
			r.errOnce.Do(func() { r.firstErr = err })
			continue
		}
		r.calls.Add(1)
		lat = append(lat, took)
	}
}

// wait returns after d, or sooner if ctx is done.
func wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// watch reports progress about once a second, measured from begin, until
// the callers have finished, ctx is done or cfg.Duration has passed, when
// it stops the callers with cancel. It returns the time measured.
func (r *run) watch(ctx context.Context, cancel context.CancelFunc, begin time.Time, finished <-chan struct{}) time.Duration {
	var stop <-chan time.Time
	if r.cfg.Duration > 0 {
		t := time.NewTimer(r.cfg.Duration)
		defer t.Stop()
		stop = t.C
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			cancel()
			return time.Since(begin)
		case <-finished:
			return time.Since(begin)
		case <-ctx.Done():
			return time.Since(begin)
		case <-tick.C:
			if r.cfg.Progress != nil {
				r.cfg.Progress(r.calls.Load(), r.errs.Load(), time.Since(begin))
			}
		}
	}
}

// result is what the callers, all ended, measured in elapsed.
func (r *run) result(elapsed time.Duration) Result {
	res := Result{Calls: r.calls.Load(), Errors: r.errs.Load(), Elapsed: elapsed, First: r.firstErr}
	res.latencies = slices.Concat(r.all...)
	slices.Sort(res.latencies)
	return res
}

package loadgen

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunCalls(t *testing.T) {
	var made atomic.Int64
	res, err := Run(context.Background(), Config{Callers: 8, Calls: 1000}, func(ctx context.Context, caller int) error {
		if caller < 0 || caller >= 8 {
			t.Errorf("caller %d", caller)
		}
		if made.Add(1)%100 == 0 {
			return errors.New("every hundredth fails")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Calls+res.Errors != 1000 || res.Errors != 10 || res.First == nil || made.Load() != 1000 {
		t.Fatalf("%d calls, %d errors (%v)", res.Calls, res.Errors, res.First)
	}
	if res.Quantile(0.5) > res.Quantile(0.99) || res.Quantile(0.99) > res.Quantile(1) || res.Rate() <= 0 {
		t.Fatalf("quantiles %v %v %v, rate %v", res.Quantile(0.5), res.Quantile(0.99), res.Quantile(1), res.Rate())
	}
}

func TestRunDuration(t *testing.T) {
	var progress atomic.Int64
	start := time.Now()
	res, err := Run(context.Background(), Config{Callers: 2, Duration: 1200 * time.Millisecond, Warmup: 100 * time.Millisecond,
		Progress: func(calls, errs int64, elapsed time.Duration) { progress.Add(1) }},
		func(ctx context.Context, _ int) error {
			select {
			case <-time.After(time.Millisecond):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 1300*time.Millisecond || took > 5*time.Second {
		t.Errorf("took %v", took)
	}
	if res.Errors != 0 || res.Calls == 0 || progress.Load() == 0 {
		t.Errorf("%d calls, %d errors, %d progress reports", res.Calls, res.Errors, progress.Load())
	}
	if q := res.Quantile(0.5); q < time.Millisecond {
		t.Errorf("p50 %v of a 1ms call", q)
	}
}

// spin keeps a core busy for d.
func spin(d time.Duration) {
	for start := time.Now(); time.Since(start) < d; {
	}
}

// TestRunCPU checks that the CPU measured is the process's during the
// measure and not the warm-up's: calls busy for 200µs each cost about
// that, and busy calls in the warm-up only cost nothing after it.
func TestRunCPU(t *testing.T) {
	if _, ok := processCPU(); !ok {
		t.Skip("no CPU time on this system")
	}
	res, err := Run(context.Background(), Config{Callers: 2, Calls: 200}, func(context.Context, int) error {
		spin(200 * time.Microsecond)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Less than 200µs if the machine gave the callers less than a core.
	if c := res.CPUPerCall(); c < 50*time.Microsecond {
		t.Errorf("calls busy for 200µs: %v CPU per call", c)
	}
	// Calls begun in the warm-up spin 1ms; those after, hardly a call's
	// end past it, don't.
	const warmup = 200 * time.Millisecond
	start := time.Now()
	res, err = Run(context.Background(), Config{Callers: 2, Calls: 2000, Warmup: warmup}, func(context.Context, int) error {
		if time.Since(start) < warmup {
			spin(time.Millisecond)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The warm-up's CPU, counted, would be about 200µs a call.
	if c := res.CPUPerCall(); c > 50*time.Microsecond {
		t.Errorf("%v CPU per call after a busy warm-up: the warm-up's counted", c)
	}
}

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

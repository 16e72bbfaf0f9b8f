package loadgen

import (
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	r := Result{latencies: []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}}
	for q, want := range map[float64]time.Duration{0.5: 5, 0.9: 9, 0.99: 10, 1: 10, 0: 1} {
		if got := r.Quantile(q); got != want {
			t.Errorf("Quantile(%v) = %v, want %v", q, got, want)
		}
	}
	if (Result{}).Quantile(0.5) != 0 {
		t.Error("Quantile of nothing")
	}
}

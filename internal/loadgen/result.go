package loadgen

import (
	"fmt"
	"time"
)

// Result is what Run measured.
type Result struct {
	Calls   int64         // calls that succeeded
	Errors  int64         // calls that failed
	Elapsed time.Duration // the time measured
	First   error         // the first error, if any
	// CPU is the CPU time, user and system, the process used while
	// measuring: the load generator's and the client's, with the
	// garbage collection and everything else the process did meanwhile.
	// 0 where it can't be read (on Unix it can).
	CPU time.Duration
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

// CPUPerCall returns CPU divided among the successful calls, 0 when none
// succeeded.
func (r Result) CPUPerCall() time.Duration {
	if r.Calls <= 0 {
		return 0
	}
	return r.CPU / time.Duration(r.Calls)
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

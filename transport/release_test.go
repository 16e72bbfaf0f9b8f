package transport

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/internal/testutil"
)

// TestMemoryReleaser checks that a burst of large bodies is released at
// once, and again when the interval ends, for the bodies refused within
// it; small bodies never are.
func TestMemoryReleaser(t *testing.T) {
	var releases atomic.Int64
	m := MemoryReleaser{free: func() { releases.Add(1) }}
	m.After(ReleaseAbove - 1)
	if got := releases.Load(); got != 0 {
		t.Fatalf("a small body: %d releases", got)
	}
	start := time.Now()
	m.After(ReleaseAbove)
	if got := releases.Load(); got != 1 {
		t.Fatalf("the first large body: %d releases, want 1", got)
	}
	m.After(ReleaseAbove)
	m.After(ReleaseAbove)
	if got := releases.Load(); got != 1 {
		t.Fatalf("large bodies within the interval: %d releases, want 1 so far", got)
	}
	testutil.WaitFor(t, 10*time.Second, func() bool { return releases.Load() == 2 }, "the interval's release")
	if waited := time.Since(start); waited < ReleaseEvery {
		t.Fatalf("released again after %v, within the interval", waited)
	}
	m.After(ReleaseAbove) // within the interval of the timer's release
	testutil.WaitFor(t, 10*time.Second, func() bool { return releases.Load() == 3 }, "the next interval's release")
}

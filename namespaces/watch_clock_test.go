package namespaces

import (
	"context"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/internal/testutil"
)

// The cases here run a watcher's loop, with real file events and real
// polling, on a fake clock: each look comes when the test moves the
// clock to it.

// watchedOnClock is watched with cfg on a fake clock.
func watchedOnClock(t *testing.T, files map[string]string, cfg WatchConfig) (*Registry, string, *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	cfg.clock = clk
	r, _, dir := watched(t, files, cfg)
	return r, dir, clk
}

// armedAt waits until the loop's earliest timer or tick is due at at.
func armedAt(t *testing.T, clk *fakeClock, at time.Time, what string) {
	t.Helper()
	testutil.WaitFor(t, wait, func() bool { next, ok := clk.next(); return ok && next.Equal(at) }, what)
}

// TestWatchClockDebounce checks that a file event brings a look once the
// debounce is over, and not before: with MaxDelay as long as Debounce,
// later events of the same write can't put it off.
func TestWatchClockDebounce(t *testing.T) {
	const debounce = 50 * time.Millisecond
	r, dir, clk := watchedOnClock(t, map[string]string{"a.lua": `function v() return 1 end`}, WatchConfig{Debounce: debounce, MaxDelay: debounce})
	write(t, dir, "a.lua", `function v() return 2 end`)
	clk.age(t, dir, debounce) // settled once the debounce is over
	armedAt(t, clk, clk.Now().Add(debounce), "the debounce to start")
	clk.Advance(debounce - time.Nanosecond)
	// No look can come but by a timer, a tick or Rescan: none came.
	if got := mustCall(t, r, "a/v"); got != int64(1) {
		t.Fatalf("a/v before the end of the debounce = %v", got)
	}
	clk.Advance(time.Nanosecond)
	testutil.WaitFor(t, wait, answers(r, "a/v", int64(2)), "a's new version at the end of the debounce")
}

// TestWatchClockPollGrace checks that WatchPoll looks every Poll, and
// that a file gone is removed by a look at the end of its grace.
func TestWatchClockPollGrace(t *testing.T) {
	const grace = 50 * time.Millisecond
	r, dir, clk := watchedOnClock(t, map[string]string{"a.lua": `function v() return 1 end`}, WatchConfig{Mode: WatchPoll, Poll: time.Hour, Grace: grace})
	armedAt(t, clk, clk.Now().Add(time.Hour), "the first poll")
	write(t, dir, "b.lua", `function v() return "b" end`)
	clk.age(t, dir, DefaultDebounce)
	clk.Advance(time.Hour)
	testutil.WaitFor(t, wait, answers(r, "b/v", "b"), "b, found by the poll")

	if err := removeFile(dir, "a.lua"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour) // the next poll finds a.lua gone: its grace starts
	armedAt(t, clk, clk.Now().Add(grace), "a look at the end of a.lua's grace")
	if got := mustCall(t, r, "a/v"); got != int64(1) {
		t.Fatalf("a/v within its grace = %v", got)
	}
	clk.Advance(grace)
	testutil.WaitFor(t, wait, gone(r, "a/v"), "a to go at the end of its grace")
}

// TestWatchContextBoundsFirstLook checks that Watch's ctx bounds only
// the first look: cancelled later, the watcher goes on.
func TestWatchContextBoundsFirstLook(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := openFiles(t, map[string]string{"a.lua": `function v() return 1 end`}, Config{})
	w, err := r.Watch(ctx, WatchConfig{Mode: WatchManual})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cancel()
	write(t, r.Dir(), "a.lua", `function v() return 2 end`)
	rescan(t, w)
	if got := mustCall(t, r, "a/v"); got != int64(2) {
		t.Fatalf("a/v after a rescan, Watch's ctx cancelled = %v", got)
	}
}

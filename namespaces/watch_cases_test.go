package namespaces

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/internal/testutil"
)

// The cases here drive a watcher's looks by hand (newWatcher and sync,
// with no loop running), to set up exactly what each look finds, on a
// fake clock that moves only when the test moves it.

// polling is cfg for a watcher whose looks the test makes, on the clock
// it returns.
func polling(t *testing.T, cfg WatchConfig) (WatchConfig, *fakeClock) {
	t.Helper()
	cfg.Mode = WatchPoll
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock()
	cfg.clock = clk
	return cfg.withDefaults(), clk
}

// look makes one look through the folder.
func look(w *Watcher) time.Duration {
	next, _ := w.sync(context.Background(), false)
	return next
}

// TestWatchChangedDuringLook checks that a file found settled, then
// written again while the same look loads other namespaces, is not loaded
// half written: it waits for its next look.
func TestWatchChangedDuringLook(t *testing.T) {
	r := openFiles(t, map[string]string{
		"a.lua": `function v() return 1 end`,
		"b.lua": `function v() return 1 end function u() return 1 end`,
	}, Config{})
	g := newGate(t, r)
	cfg, clk := polling(t, WatchConfig{Debounce: 50 * time.Millisecond})
	w := newWatcher(r, cfg)
	write(t, r.Dir(), "a.lua", `slacker.call("gate/wait") function v() return 2 end`)
	write(t, r.Dir(), "b.lua", `function v() return 2 end function u() return 2 end`)
	clk.age(t, r.Dir(), 70*time.Millisecond) // both settled
	done := make(chan time.Duration)
	go func() { done <- look(w) }()
	<-g.entered                                             // a is loading; b was found settled
	write(t, r.Dir(), "b.lua", `function v() return 3 end`) // the first part of a write
	close(g.open)
	if next := <-done; next == 0 {
		t.Error("no look asked for, for b.lua written during the look")
	}
	if got, err := call(r, "b/u"); got != int64(1) {
		t.Fatalf("b/u = %v, %v: b.lua was loaded as written during the look", got, err)
	}
}

// TestWatchRetriesOpenFailures checks that the first look tries again the
// files Open failed to load: a module they need may be there now, and a
// namespace they call while loading is.
func TestWatchRetriesOpenFailures(t *testing.T) {
	r := openFiles(t, map[string]string{
		"a.lua":      `local u = require("util") function v() return u.n end`,
		"config.lua": `function get() return 7 end`,
		"c.lua":      `local n = slacker.call("config/get") function v() return n end`,
	}, Config{})
	if len(r.Failures()) != 2 {
		t.Fatal(r.Failures())
	}
	write(t, r.Dir(), "_lib/util.lua", `return { n = 1 }`)
	cfg, clk := polling(t, WatchConfig{})
	clk.age(t, r.Dir(), DefaultDebounce) // settled
	look(newWatcher(r, cfg))
	if got, err := call(r, "a/v"); got != int64(1) {
		t.Errorf("a/v = %v, %v", got, err)
	}
	if got, err := call(r, "c/v"); got != int64(7) {
		t.Errorf("c/v = %v, %v", got, err)
	}
}

// TestWatchModuleBack checks that a namespace that failed while a module
// it needs was away is loaded again when the module comes back unchanged.
func TestWatchModuleBack(t *testing.T) {
	r := openFiles(t, map[string]string{
		"_lib/util.lua": `return { n = 1 }`,
		"a.lua":         `local u = require("util") function v() return u.n end`,
	}, Config{})
	cfg, clk := polling(t, WatchConfig{Grace: time.Hour})
	w := newWatcher(r, cfg)
	clk.age(t, r.Dir(), DefaultDebounce) // settled
	look(w)
	lib := filepath.Join(r.Dir(), "_lib", "util.lua")
	testutil.Rename(t, lib, lib+".tmp")
	write(t, r.Dir(), "b.lua", `local u = require("util") function v() return u.n + 1 end`)
	clk.age(t, r.Dir(), DefaultDebounce)
	look(w)
	if len(r.Failures()) != 1 {
		t.Fatalf("failures while util.lua is away: %v", r.Failures())
	}
	testutil.Rename(t, lib+".tmp", lib)
	look(w)
	if got, err := call(r, "b/v"); got != int64(2) {
		t.Fatalf("b/v = %v, %v once util.lua is back; failures %v", got, err, r.Failures())
	}
	if got, err := call(r, "a/v"); got != int64(1) {
		t.Fatalf("a/v = %v, %v", got, err)
	}
}

// TestWatchEmptyServedGoes checks that an empty file, served once empty for
// its grace, is given a grace again when it goes missing.
func TestWatchEmptyServedGoes(t *testing.T) {
	r := openFiles(t, map[string]string{"e.lua": ``, "a.lua": `function v() return 1 end`}, Config{})
	cfg, clk := polling(t, WatchConfig{Grace: 50 * time.Millisecond})
	w := newWatcher(r, cfg)
	clk.age(t, r.Dir(), DefaultDebounce)
	if next := look(w); next != 50*time.Millisecond {
		t.Fatalf("a look asked for in %v, want at the end of e.lua's grace", next)
	}
	clk.Advance(50 * time.Millisecond) // the end of the grace
	if next := look(w); next != 0 {
		t.Fatalf("another look asked for in %v", next)
	}
	if err := removeFile(r.Dir(), "e.lua"); err != nil {
		t.Fatal(err)
	}
	if next := look(w); next != 50*time.Millisecond {
		t.Fatalf("a look asked for in %v, want at the end of e.lua's new grace", next)
	}
	if got := r.Namespaces(); len(got) != 2 {
		t.Fatalf("e.lua gone within its grace: served %v", got)
	}
}

// TestWatchModuleUnreadable checks, as an unprivileged user, that a module
// in a folder that can't be read is kept as it was: the namespaces that
// required it are not loaded again.
func TestWatchModuleUnreadable(t *testing.T) {
	if testutil.RunUnprivileged(t) {
		return
	}
	r := openFiles(t, map[string]string{
		"_lib/sub/util.lua": `return { n = 1 }`,
		"a.lua":             `local u = require("sub.util") function v() return u.n end`,
	}, Config{})
	cfg, clk := polling(t, WatchConfig{Grace: 20 * time.Millisecond})
	w := newWatcher(r, cfg)
	clk.age(t, r.Dir(), DefaultDebounce)
	look(w)
	sub := filepath.Join(r.Dir(), "_lib", "sub")
	chmod(t, sub, 0)
	defer chmod(t, sub, 0o755)
	look(w)
	clk.Advance(30 * time.Millisecond) // past the grace
	look(w)
	for _, f := range r.Failures() {
		if f.Path != "_lib/sub" {
			t.Errorf("failure %s: %v", f.Path, f.Err)
		}
	}
}

// TestWatchClashSave checks that the file served in a clash, saved by
// moving it away and back, keeps the namespace.
func TestWatchClashSave(t *testing.T) {
	r := openFiles(t, map[string]string{"a/b.lua": `function v() return "dir" end`}, Config{})
	cfg, clk := polling(t, WatchConfig{Grace: time.Hour})
	w := newWatcher(r, cfg)
	write(t, r.Dir(), "a.b.lua", `function v() return "dots" end`)
	clk.age(t, r.Dir(), DefaultDebounce)
	look(w)
	if len(r.Failures()) != 1 {
		t.Fatal(r.Failures())
	}
	p := filepath.Join(r.Dir(), "a", "b.lua")
	testutil.Rename(t, p, p+"~") // an editor's save
	look(w)
	testutil.Rename(t, p+"~", p)
	clk.age(t, r.Dir(), DefaultDebounce)
	look(w)
	if got := mustCall(t, r, "a.b/v"); got != "dir" {
		t.Fatalf("a.b/v = %v after a/b.lua was saved; failures %v", got, r.Failures())
	}
}

// TestWatchModuleBackEvents is TestWatchModuleBack through file events,
// with the default configuration.
func TestWatchModuleBackEvents(t *testing.T) {
	r, _, dir := watched(t, map[string]string{
		"_lib/util.lua": `return { n = 1 }`,
		"a.lua":         `local u = require("util") function v() return u.n end`,
	}, WatchConfig{})
	lib := filepath.Join(dir, "_lib", "util.lua")
	testutil.Rename(t, lib, lib+".tmp")
	write(t, dir, "b.lua", `local u = require("util") function v() return u.n + 1 end`)
	testutil.WaitFor(t, wait, func() bool { return len(r.Failures()) == 1 }, "b's failure")
	testutil.Rename(t, lib+".tmp", lib)
	testutil.WaitFor(t, wait, answers(r, "b/v", int64(2)), "b once util.lua is back")
}

// TestWatchDrain checks that with a drain, a namespace whose file is gone
// is said to be leaving, served on for the drain, then removed; and that
// one whose file comes back while it is leaving is kept.
func TestWatchDrain(t *testing.T) {
	r := openFiles(t, map[string]string{"a.lua": `function v() return 1 end`, "b.lua": `function v() return 2 end`}, Config{})
	sub := r.Subscribe()
	defer sub.Close()
	cfg, clk := polling(t, WatchConfig{Grace: time.Millisecond, Drain: 50 * time.Millisecond})
	w := newWatcher(r, cfg)
	clk.age(t, r.Dir(), DefaultDebounce)
	look(w)
	for _, f := range []string{"a.lua", "b.lua"} {
		if err := removeFile(r.Dir(), f); err != nil {
			t.Fatal(err)
		}
	}
	if next := look(w); next != time.Millisecond { // their grace starts
		t.Fatalf("a look asked for in %v, want at the end of the grace", next)
	}
	clk.Advance(time.Millisecond)
	if next := look(w); next != 50*time.Millisecond { // their grace is over: they leave
		t.Fatalf("a look asked for in %v, want at the end of the drain", next)
	}
	if got := mustCall(t, r, "a/v"); got != int64(1) {
		t.Fatalf("a/v while leaving = %v", got)
	}
	write(t, r.Dir(), "b.lua", `function v() return 2 end`) // back, unchanged
	clk.Advance(49 * time.Millisecond)
	clk.age(t, r.Dir(), DefaultDebounce) // b.lua settled
	look(w)
	if got := mustCall(t, r, "a/v"); got != int64(1) {
		t.Fatalf("a/v before the end of its drain = %v", got)
	}
	clk.Advance(50 * time.Millisecond) // past the drain
	look(w)
	if got := r.Namespaces(); len(got) != 1 || got[0] != "b" {
		t.Fatalf("served after the drain: %v", got)
	}
	var got []string
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for len(got) < 6 {
		ev, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		got = append(got, ev.Kind.String()+" "+ev.Namespace)
	}
	if want := "added a; added b; leaving a; leaving b; kept b; removed a"; strings.Join(got, "; ") != want {
		t.Fatalf("events: %s\nwant %s", strings.Join(got, "; "), want)
	}
}

// TestWatchDrainCases checks the drain where another file takes the
// namespace over (no drain: it is served from the new file at once), a
// subscription made during a drain (it hears Leaving), and a file that
// became a broken link and comes back after its namespace was drained (it
// is added, not kept).
func TestWatchDrainCases(t *testing.T) {
	r := openFiles(t, map[string]string{"a/b.lua": `function v() return "dir" end`, "c.lua": `function v() return "c" end`}, Config{})
	cfg, clk := polling(t, WatchConfig{Grace: time.Millisecond, Drain: 50 * time.Millisecond})
	w := newWatcher(r, cfg)
	clk.age(t, r.Dir(), DefaultDebounce)
	look(w)
	testutil.Rename(t, filepath.Join(r.Dir(), "a", "b.lua"), filepath.Join(r.Dir(), "a.b.lua"))
	if err := removeFile(r.Dir(), "c.lua"); err != nil {
		t.Fatal(err)
	}
	testutil.Symlink(t, "nowhere.lua", filepath.Join(r.Dir(), "c.lua"))
	clk.age(t, r.Dir(), DefaultDebounce) // a.b.lua settled
	look(w)
	clk.Advance(time.Millisecond) // the end of c.lua's grace
	look(w)
	if got, err := call(r, "a.b/v"); got != "dir" || err != nil || len(r.Failures()) != 1 {
		t.Fatalf("a.b/v renamed = %v, %v; failures %v", got, err, r.Failures())
	}
	for _, f := range r.Failures() {
		var ce *ClashError
		if errors.As(f.Err, &ce) {
			t.Fatalf("the rename was a clash: %v", f)
		}
	}

	sub := r.Subscribe()
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var got []string
	for len(got) < 4 {
		ev, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		got = append(got, ev.Kind.String()+" "+ev.Namespace)
	}
	if want := "added a.b; added c; leaving c; failed c"; strings.Join(got, "; ") != want {
		t.Fatalf("a subscription during the drain: %s\nwant %s", strings.Join(got, "; "), want)
	}

	clk.Advance(50 * time.Millisecond) // the end of the drain
	look(w)
	if got := r.Namespaces(); len(got) != 1 || got[0] != "a.b" {
		t.Fatalf("served after the drain: %v", got)
	}
	if err := removeFile(r.Dir(), "c.lua"); err != nil {
		t.Fatal(err)
	}
	write(t, r.Dir(), "c.lua", `function v() return "c2" end`)
	clk.age(t, r.Dir(), DefaultDebounce) // settled
	look(w)
	for got = nil; len(got) < 3; {
		ev, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		got = append(got, ev.Kind.String()+" "+ev.Namespace)
	}
	if want := "removed c; added c; cleared c"; strings.Join(got, "; ") != want {
		t.Fatalf("events: %s\nwant %s", strings.Join(got, "; "), want)
	}
	// The looks are over, and their events queued: Next with a done
	// context returns one if there is one.
	done, cancelDone := context.WithCancel(ctx)
	cancelDone()
	if ev, err := sub.Next(done); err == nil {
		t.Fatalf("then %+v", ev)
	}
}

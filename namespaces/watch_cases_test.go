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
// with no loop running), to set up exactly what each look finds.

// polling is cfg for a watcher whose looks the test makes.
func polling(t *testing.T, cfg WatchConfig) WatchConfig {
	t.Helper()
	cfg.Mode = WatchPoll
	cfg, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
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
	w := newWatcher(r, polling(t, WatchConfig{Debounce: 50 * time.Millisecond}))
	write(t, r.Dir(), "a.lua", `slacker.call("gate/wait") function v() return 2 end`)
	write(t, r.Dir(), "b.lua", `function v() return 2 end function u() return 2 end`)
	time.Sleep(70 * time.Millisecond) // both settled
	done := make(chan time.Duration)
	go func() { next, _ := w.sync(false); done <- next }()
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
	time.Sleep(30 * time.Millisecond) // settled
	newWatcher(r, polling(t, WatchConfig{})).sync(false)
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
	w := newWatcher(r, polling(t, WatchConfig{Grace: time.Hour}))
	time.Sleep(30 * time.Millisecond) // settled
	w.sync(false)
	lib := filepath.Join(r.Dir(), "_lib", "util.lua")
	testutil.Rename(t, lib, lib+".tmp")
	write(t, r.Dir(), "b.lua", `local u = require("util") function v() return u.n + 1 end`)
	time.Sleep(30 * time.Millisecond)
	w.sync(false)
	if len(r.Failures()) != 1 {
		t.Fatalf("failures while util.lua is away: %v", r.Failures())
	}
	testutil.Rename(t, lib+".tmp", lib)
	w.sync(false)
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
	w := newWatcher(r, polling(t, WatchConfig{Grace: 50 * time.Millisecond}))
	time.Sleep(30 * time.Millisecond)
	w.sync(false)
	time.Sleep(60 * time.Millisecond) // past the grace
	if next, _ := w.sync(false); next != 0 {
		t.Fatalf("another look asked for in %v", next)
	}
	if err := removeFile(r.Dir(), "e.lua"); err != nil {
		t.Fatal(err)
	}
	w.sync(false)
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
	w := newWatcher(r, polling(t, WatchConfig{Grace: 20 * time.Millisecond}))
	time.Sleep(30 * time.Millisecond)
	w.sync(false)
	sub := filepath.Join(r.Dir(), "_lib", "sub")
	chmod(t, sub, 0)
	defer chmod(t, sub, 0o755)
	w.sync(false)
	time.Sleep(30 * time.Millisecond) // past the grace
	w.sync(false)
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
	w := newWatcher(r, polling(t, WatchConfig{Grace: time.Hour}))
	write(t, r.Dir(), "a.b.lua", `function v() return "dots" end`)
	time.Sleep(30 * time.Millisecond)
	w.sync(false)
	if len(r.Failures()) != 1 {
		t.Fatal(r.Failures())
	}
	p := filepath.Join(r.Dir(), "a", "b.lua")
	testutil.Rename(t, p, p+"~") // an editor's save
	w.sync(false)
	testutil.Rename(t, p+"~", p)
	time.Sleep(30 * time.Millisecond)
	w.sync(false)
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
	w := newWatcher(r, polling(t, WatchConfig{Grace: time.Nanosecond, Drain: 50 * time.Millisecond}))
	w.sync(false)
	for _, f := range []string{"a.lua", "b.lua"} {
		if err := removeFile(r.Dir(), f); err != nil {
			t.Fatal(err)
		}
	}
	w.sync(false) // their grace starts
	time.Sleep(time.Millisecond)
	if next, _ := w.sync(false); next == 0 { // their grace is over: they leave
		t.Fatal("no look asked for at the end of the drain")
	}
	if got := mustCall(t, r, "a/v"); got != int64(1) {
		t.Fatalf("a/v while leaving = %v", got)
	}
	write(t, r.Dir(), "b.lua", `function v() return 2 end`) // back, unchanged
	time.Sleep(60 * time.Millisecond)                       // past the drain, and b.lua settled
	w.sync(false)
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
	w := newWatcher(r, polling(t, WatchConfig{Grace: time.Nanosecond, Drain: 50 * time.Millisecond}))
	w.sync(false)
	testutil.Rename(t, filepath.Join(r.Dir(), "a", "b.lua"), filepath.Join(r.Dir(), "a.b.lua"))
	if err := removeFile(r.Dir(), "c.lua"); err != nil {
		t.Fatal(err)
	}
	testutil.Symlink(t, "nowhere.lua", filepath.Join(r.Dir(), "c.lua"))
	time.Sleep(30 * time.Millisecond) // a.b.lua settled
	w.sync(false)
	time.Sleep(time.Millisecond)
	w.sync(false)
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

	time.Sleep(60 * time.Millisecond) // past the drain
	w.sync(false)
	if got := r.Namespaces(); len(got) != 1 || got[0] != "a.b" {
		t.Fatalf("served after the drain: %v", got)
	}
	if err := removeFile(r.Dir(), "c.lua"); err != nil {
		t.Fatal(err)
	}
	write(t, r.Dir(), "c.lua", `function v() return "c2" end`)
	time.Sleep(30 * time.Millisecond) // settled
	w.sync(false)
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
	short, cancelShort := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancelShort()
	if ev, err := sub.Next(short); err == nil {
		t.Fatalf("then %+v", ev)
	}
}

package namespaces

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/engine"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
)

// watched opens files in a new folder and watches it; both are closed when
// the test ends.
func watched(t *testing.T, files map[string]string, cfg WatchConfig) (*Registry, *Watcher, string) {
	t.Helper()
	testutil.CheckGoroutines(t)
	dir := testutil.WriteFiles(t, files)
	r, err := Open(context.Background(), dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	w, err := r.Watch(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, w, dir
}

func write(t *testing.T, dir, rel, src string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

// answers reports whether name answers want.
func answers(r *Registry, name string, want any) func() bool {
	return func() bool {
		got, err := call(r, name)
		return err == nil && got == want
	}
}

// gone reports whether name is not found.
func gone(r *Registry, name string) func() bool {
	return func() bool {
		_, err := call(r, name)
		return err != nil && strings.Contains(err.Error(), "not found")
	}
}

const wait = 5 * time.Second

func TestWatchEvents(t *testing.T) {
	r, _, dir := watched(t, map[string]string{"a.lua": `function v() return 1 end`}, WatchConfig{})
	sub := r.Subscribe()
	defer sub.Close()

	write(t, dir, "b/c.lua", `function v() return "c" end`)
	testutil.WaitFor(t, wait, answers(r, "b.c/v", "c"), "b.c to be served")
	write(t, dir, "a.lua", `function v() return 2 end`)
	testutil.WaitFor(t, wait, answers(r, "a/v", int64(2)), "a's new version")
	write(t, dir, "a.lua", `function v( return 3 end`)
	testutil.WaitFor(t, wait, func() bool { return len(r.Failures()) == 1 }, "a's failure")
	if got := mustCall(t, r, "a/v"); got != int64(2) {
		t.Fatalf("a/v after a broken save = %v, want the version before", got)
	}
	var le *engine.LoadError
	if f := r.Failures()[0]; f.Path != "a.lua" || f.Name != "a" || !errors.As(f.Err, &le) || le.Line != 1 {
		t.Fatalf("failure %+v", f)
	}
	write(t, dir, "a.lua", `function v() return 4 end`)
	testutil.WaitFor(t, wait, answers(r, "a/v", int64(4)), "a's fixed version")
	if f := r.Failures(); len(f) != 0 {
		t.Fatalf("failures after the fix: %v", f)
	}
	if err := os.Remove(filepath.Join(dir, "b", "c.lua")); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, wait, gone(r, "b.c/v"), "b.c to go")

	var got []string
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for len(got) < 7 {
		ev, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		got = append(got, ev.Kind.String()+" "+ev.Namespace+" "+ev.Path)
		if ev.Kind != Removed && ev.Hash == "" {
			t.Errorf("%v has no hash", ev)
		}
	}
	want := []string{"added a a.lua", "added b.c b/c.lua", "updated a a.lua", "failed a a.lua", "updated a a.lua", "cleared a a.lua", "removed b.c b/c.lua"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Fatalf("events:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestWatchLib(t *testing.T) {
	r, _, dir := watched(t, map[string]string{
		"_lib/util.lua": `return { n = 1 }`,
		"a.lua":         `local u = require("util") function v() return u.n end`,
	}, WatchConfig{})
	testutil.WaitFor(t, wait, answers(r, "a/v", int64(1)), "a")
	write(t, dir, "_lib/util.lua", `return { n = 2 }`)
	testutil.WaitFor(t, wait, answers(r, "a/v", int64(2)), "a with util's new version")
}

func TestWatchPoll(t *testing.T) {
	r, w, dir := watched(t, map[string]string{"a.lua": `function v() return 1 end`}, WatchConfig{Mode: WatchPoll, Poll: 20 * time.Millisecond})
	write(t, dir, "a.lua", `function v() return 2 end`)
	testutil.WaitFor(t, wait, answers(r, "a/v", int64(2)), "a's new version")
	w.Close()
	w.Close()
	if err := w.Rescan(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Rescan after Close: %v", err)
	}
	if _, err := r.Watch(context.Background(), WatchConfig{}); err != nil {
		t.Fatalf("Watch after the watcher closed: %v", err)
	}
	if _, err := r.Watch(context.Background(), WatchConfig{}); !errors.Is(err, ErrWatched) {
		t.Fatalf("a second Watch: %v", err)
	}
}

// rescan looks through the folder now.
func rescan(t *testing.T, w *Watcher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := w.Rescan(ctx); err != nil {
		t.Fatal(err)
	}
}

// manual is a configuration under which the watcher acts only when asked,
// by Rescan, and takes missing and empty files at once.
var manual = WatchConfig{Mode: WatchManual}

// TestWatchUnchanged checks that a file saved unchanged is not reloaded:
// a stateful namespace keeps its state.
func TestWatchUnchanged(t *testing.T) {
	src := `_options = {stateful = true} n = 0 function inc() n = n + 1 return n end`
	r, w, dir := watched(t, map[string]string{"s.lua": src}, manual)
	mustCall(t, r, "s/inc")
	write(t, dir, "s.lua", src)
	rescan(t, w)
	if got := mustCall(t, r, "s/inc"); got != int64(2) {
		t.Fatalf("s/inc after an unchanged save = %v, want 2", got)
	}
}

// TestWatchGrace checks that a served file that goes missing or empty
// keeps serving for the grace period, and a new empty file is served once
// it has been empty that long.
func TestWatchGrace(t *testing.T) {
	r, w, dir := watched(t, map[string]string{"a.lua": `function v() return 1 end`}, WatchConfig{Mode: WatchPoll, Poll: time.Hour, Grace: time.Hour})
	write(t, dir, "a.lua", "")
	rescan(t, w)
	if got := mustCall(t, r, "a/v"); got != int64(1) {
		t.Fatalf("a/v while a.lua is empty = %v", got)
	}
	if err := os.Remove(filepath.Join(dir, "a.lua")); err != nil {
		t.Fatal(err)
	}
	rescan(t, w)
	if got := mustCall(t, r, "a/v"); got != int64(1) {
		t.Fatalf("a/v while a.lua is missing = %v", got)
	}
	write(t, dir, "a.lua", `function v() return 2 end`)
	rescan(t, w)
	if got := mustCall(t, r, "a/v"); got != int64(2) {
		t.Fatalf("a/v once a.lua is back = %v", got)
	}

	r2, w2, dir2 := watched(t, nil, WatchConfig{Mode: WatchPoll, Poll: time.Hour, Grace: time.Millisecond})
	write(t, dir2, "e.lua", "")
	rescan(t, w2)
	testutil.WaitFor(t, wait, func() bool { return len(r2.Namespaces()) == 1 }, "the empty file to be served")
}

// TestWatchClash checks that a file naming a namespace that another file
// or the program serves is a failure, and is served once the other file
// is gone.
func TestWatchClash(t *testing.T) {
	r, w, dir := watched(t, map[string]string{"a/b.lua": `function v() return "dir" end`}, manual)
	write(t, dir, "a.b.lua", `function v() return "dots" end`)
	rescan(t, w)
	var ce *ClashError
	if f := r.Failures(); len(f) != 1 || f[0].Path != "a.b.lua" || !errors.As(f[0].Err, &ce) || ce.Error() != "a.b is defined by both a.b.lua and a/b.lua" {
		t.Fatalf("failures %v", f)
	}
	if got := mustCall(t, r, "a.b/v"); got != "dir" {
		t.Fatalf("a.b/v = %v", got)
	}
	if err := os.Remove(filepath.Join(dir, "a", "b.lua")); err != nil {
		t.Fatal(err)
	}
	rescan(t, w)
	if got := mustCall(t, r, "a.b/v"); got != "dots" || len(r.Failures()) != 0 {
		t.Fatalf("a.b/v = %v, failures %v", got, r.Failures())
	}

	if err := r.SetGo("g", []GoFunction{{Name: "v", Fn: func(context.Context, []any) (any, error) { return "go", nil }}}); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "g.lua", `function v() return "lua" end`)
	rescan(t, w)
	if f := r.Failures(); len(f) != 1 || !errors.As(f[0].Err, &ce) || ce.Error() != "g is defined by g.lua and served by Set or SetGo" {
		t.Fatalf("failures %v", f)
	}
	if got := mustCall(t, r, "g/v"); got != "go" {
		t.Fatalf("g/v = %v", got)
	}
}

// TestWatchRescanRetries checks that Rescan tries a failed file again even
// when it is unchanged, and that a file whose module appears is served.
func TestWatchRescanRetries(t *testing.T) {
	r, w, dir := watched(t, map[string]string{"a.lua": `local m = require("m") function v() return m end`}, manual)
	if len(r.Failures()) != 1 {
		t.Fatalf("failures %v", r.Failures())
	}
	write(t, dir, "_lib/m.lua", `return "m"`)
	rescan(t, w)
	if got := mustCall(t, r, "a/v"); got != "m" || len(r.Failures()) != 0 {
		t.Fatalf("a/v = %v, failures %v", got, r.Failures())
	}
}

// TestWatchLinkedFile checks that a file linked to from the folder is
// reloaded when it changes where it is.
func TestWatchLinkedFile(t *testing.T) {
	elsewhere := t.TempDir()
	write(t, elsewhere, "real.lua", `function v() return 1 end`)
	r, _, dir := watched(t, nil, WatchConfig{})
	if err := os.Symlink(filepath.Join(elsewhere, "real.lua"), filepath.Join(dir, "l.lua")); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, wait, answers(r, "l/v", int64(1)), "the linked file to be served")
	write(t, elsewhere, "real.lua", `function v() return 2 end`)
	testutil.WaitFor(t, wait, answers(r, "l/v", int64(2)), "the linked file's new version")
}

// TestWatchFolderReplaced checks that a folder replaced by another under
// the same path is watched anew: removed and made again at once, swapped
// by two renames, a link to a folder pointed elsewhere, and a served
// folder that is itself a link, pointed at a new release.
func TestWatchFolderReplaced(t *testing.T) {
	edit := func(t *testing.T, r *Registry, dir, rel string) {
		t.Helper()
		for _, v := range []int64{7, 8} {
			write(t, dir, rel, fmt.Sprintf("function v() return %d end", v))
			testutil.WaitFor(t, wait, answers(r, "d.x/v", v), fmt.Sprintf("d.x/v to answer %d", v))
		}
	}
	t.Run("remade", func(t *testing.T) {
		r, _, dir := watched(t, map[string]string{"d/x.lua": `function v() return 1 end`}, WatchConfig{})
		if err := os.RemoveAll(filepath.Join(dir, "d")); err != nil {
			t.Fatal(err)
		}
		write(t, dir, "d/x.lua", `function v() return 2 end`)
		testutil.WaitFor(t, wait, answers(r, "d.x/v", int64(2)), "the remade folder's file")
		edit(t, r, dir, "d/x.lua")
	})
	t.Run("swapped", func(t *testing.T) {
		r, _, dir := watched(t, map[string]string{"d/x.lua": `function v() return 1 end`}, WatchConfig{})
		write(t, dir, "_next/x.lua", `function v() return 2 end`)
		testutil.Rename(t, filepath.Join(dir, "d"), filepath.Join(dir, "_old"))
		testutil.Rename(t, filepath.Join(dir, "_next"), filepath.Join(dir, "d"))
		testutil.WaitFor(t, wait, answers(r, "d.x/v", int64(2)), "the swapped folder's file")
		edit(t, r, dir, "d/x.lua")
	})
	t.Run("relinked", func(t *testing.T) {
		r, _, dir := watched(t, map[string]string{"_a/x.lua": `function v() return 1 end`, "_b/x.lua": `function v() return 2 end`}, WatchConfig{})
		testutil.Symlink(t, "_a", filepath.Join(dir, "d"))
		testutil.WaitFor(t, wait, answers(r, "d.x/v", int64(1)), "the linked folder's file")
		testutil.Symlink(t, "_b", filepath.Join(dir, ".d.tmp"))
		testutil.Rename(t, filepath.Join(dir, ".d.tmp"), filepath.Join(dir, "d"))
		testutil.WaitFor(t, wait, answers(r, "d.x/v", int64(2)), "the file of the folder linked now")
		edit(t, r, dir, "_b/x.lua")
	})
	t.Run("served folder relinked", func(t *testing.T) {
		testutil.CheckGoroutines(t)
		top := testutil.WriteFiles(t, map[string]string{"r1/d/x.lua": `function v() return 1 end`, "r2/d/x.lua": `function v() return 2 end`})
		current := filepath.Join(top, "current")
		testutil.Symlink(t, "r1", current)
		r, err := Open(context.Background(), current, Config{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Close)
		if _, err := r.Watch(context.Background(), WatchConfig{}); err != nil {
			t.Fatal(err)
		}
		testutil.Symlink(t, "r2", filepath.Join(top, ".current.tmp"))
		testutil.Rename(t, filepath.Join(top, ".current.tmp"), current)
		testutil.WaitFor(t, wait, answers(r, "d.x/v", int64(2)), "the new release's file")
		edit(t, r, filepath.Join(top, "r2"), "d/x.lua")
	})
}

// TestWatchHidesPaths checks that failures name files by their paths under
// the folder, never by where the folder is.
func TestWatchHidesPaths(t *testing.T) {
	r, w, dir := watched(t, map[string]string{"a.lua": `local m = require("nope") function v() end`}, manual)
	testutil.Symlink(t, "nowhere.lua", filepath.Join(dir, "broken.lua"))
	rescan(t, w)
	fs := r.Failures()
	if len(fs) != 2 {
		t.Fatalf("failures %v", fs)
	}
	for _, f := range fs {
		if strings.Contains(f.Err.Error(), dir) {
			t.Errorf("%s: %q names the folder", f.Path, f.Err)
		}
	}
	if want := "stat broken.lua: no such file or directory"; fs[1].Path != "broken.lua" || fs[1].Name != "broken" || fs[1].Err.Error() != want {
		t.Errorf("broken link: %+v, want %q", fs[1], want)
	}
	if want := "(tried _lib/nope.lua)"; !strings.Contains(fs[0].Err.Error(), want) {
		t.Errorf("missing module: %q, want it to say %q", fs[0].Err, want)
	}
}

// TestWatchFailureEvents checks that a subscription replays the failures
// recorded, and hears when one is over.
func TestWatchFailureEvents(t *testing.T) {
	r, w, dir := watched(t, map[string]string{"a.lua": `function v() return 1 end`, "b.lua": `x(`}, manual)
	sub := r.Subscribe()
	defer sub.Close()
	write(t, dir, "a.lua", `x(`)
	rescan(t, w)
	write(t, dir, "a.lua", `function v() return 1 end`) // back to the version served
	if err := os.Remove(filepath.Join(dir, "b.lua")); err != nil {
		t.Fatal(err)
	}
	rescan(t, w)
	got := []string{}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for len(got) < 5 {
		ev, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		got = append(got, ev.Kind.String()+" "+ev.Path)
	}
	want := "added a.lua; failed b.lua; failed a.lua; cleared b.lua; cleared a.lua"
	if strings.Join(got, "; ") != want {
		t.Fatalf("events: %s\nwant %s", strings.Join(got, "; "), want)
	}
}

// TestWatchUnreadable checks, as an unprivileged user, that a folder that
// can't be read is a failure whose files keep serving, that the rest of
// the folder is still followed, and that making a file readable again
// serves it.
func TestWatchUnreadable(t *testing.T) {
	if testutil.RunUnprivileged(t) {
		return
	}
	r, _, dir := watched(t, map[string]string{"a.lua": `function v() return 1 end`, "p/x.lua": `function v() return "x" end`, "b.lua": `function v() return "b" end`}, WatchConfig{})
	chmod(t, filepath.Join(dir, "p"), 0)
	write(t, dir, "a.lua", `function v() return 2 end`)
	testutil.WaitFor(t, wait, answers(r, "a/v", int64(2)), "a's new version")
	if f := r.Failures(); len(f) != 1 || f[0].Path != "p" || !errors.Is(f[0].Err, os.ErrPermission) || strings.Contains(f[0].Err.Error(), dir) {
		t.Fatalf("failures %v", f)
	}
	if got := mustCall(t, r, "p.x/v"); got != "x" {
		t.Fatalf("p.x/v = %v", got)
	}
	chmod(t, filepath.Join(dir, "p"), 0o755)
	testutil.WaitFor(t, wait, func() bool { return len(r.Failures()) == 0 }, "the folder's failure to clear")

	chmod(t, filepath.Join(dir, "b.lua"), 0o200) // written, not read
	write(t, dir, "b.lua", `function v() return "b2" end`)
	testutil.WaitFor(t, wait, func() bool { return len(r.Failures()) == 1 }, "b's failure")
	if got := mustCall(t, r, "b/v"); got != "b" {
		t.Fatalf("b/v while b.lua can't be read = %v", got)
	}
	chmod(t, filepath.Join(dir, "b.lua"), 0o644)
	testutil.WaitFor(t, wait, answers(r, "b/v", "b2"), "b once it can be read")
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkSync times one look through a folder of 1,000 namespace files
// of 2 KB, none changed: what each burst of changes costs the watcher. A
// forced look (Rescan) reads every file.
func BenchmarkSync(b *testing.B) {
	files := make(map[string]string, 1000)
	for i := range 1000 {
		files[fmt.Sprintf("ns%d/f%d.lua", i%10, i)] = strings.Repeat("-- a comment line of about forty bytes\n", 50) + fmt.Sprintf("function v() return %d end\n", i)
	}
	dir := testutil.WriteFiles(b, files)
	clk := newFakeClock()
	clk.Advance(racy + 100*time.Millisecond) // files read this long after they changed are not read again
	r, err := Open(context.Background(), dir, Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	for _, force := range []bool{false, true} {
		b.Run(fmt.Sprintf("force=%v", force), func(b *testing.B) {
			w := newWatcher(r, WatchConfig{Mode: WatchPoll, clock: clk}.withDefaults())
			w.sync(context.Background(), false)
			for b.Loop() {
				if _, err := w.sync(context.Background(), force); err != nil {
					b.Fatal(err)
				}
			}
			if got := len(r.Namespaces()); got != 1000 {
				b.Fatalf("%d namespaces served", got)
			}
		})
	}
}

// TestWatchPreservedTimes checks that a new version of the same size
// whose modification time was set back to the old one's (cp -p, rsync -t,
// unpacking an archive) is read all the same.
func TestWatchPreservedTimes(t *testing.T) {
	r, _, dir := watched(t, map[string]string{"a.lua": `function v() return 1 end`}, WatchConfig{})
	p := filepath.Join(dir, "a.lua")
	old := time.Now().Add(-time.Hour)
	chtimes(t, p, old)
	write(t, dir, "b.lua", `function v() return 1 end`) // a look that reads a.lua, long after its modification time
	testutil.WaitFor(t, wait, answers(r, "b/v", int64(1)), "b")
	write(t, dir, "a.lua", `function v() return 2 end`)
	chtimes(t, p, old)
	testutil.WaitFor(t, wait, answers(r, "a/v", int64(2)), "a's new version, with the old times")
}

// TestWatchFailureAfterReadError checks that a file whose version failed
// to load, then could not be read for a while, fails to load again once
// it can be read.
func TestWatchFailureAfterReadError(t *testing.T) {
	if testutil.RunUnprivileged(t) {
		return
	}
	r, _, dir := watched(t, map[string]string{"a.lua": `function v() return 1 end`}, WatchConfig{})
	loadFailed := func() bool {
		var le *engine.LoadError
		f := r.Failures()
		return len(f) == 1 && errors.As(f[0].Err, &le)
	}
	write(t, dir, "a.lua", `function v( return 2 end`)
	testutil.WaitFor(t, wait, loadFailed, "the load failure")
	chmod(t, filepath.Join(dir, "a.lua"), 0o200)
	testutil.WaitFor(t, wait, func() bool { f := r.Failures(); return len(f) == 1 && errors.Is(f[0].Err, os.ErrPermission) }, "the read failure")
	chmod(t, filepath.Join(dir, "a.lua"), 0o644)
	testutil.WaitFor(t, wait, loadFailed, "the load failure again, once a.lua can be read")
}

// TestWatchLibSettles checks that a module truncated, or moved away, for
// less than its grace reloads nothing.
func TestWatchLibSettles(t *testing.T) {
	r, w, dir := watched(t, map[string]string{
		"_lib/util.lua": `return { n = 1 }`,
		"a.lua":         `local u = require("util") function v() return u.n + require("util").n end`,
	}, WatchConfig{Mode: WatchPoll, Poll: time.Hour, Grace: time.Hour})
	lib := filepath.Join(dir, "_lib", "util.lua")
	if err := os.Truncate(lib, 0); err != nil {
		t.Fatal(err)
	}
	rescan(t, w)
	if got, err := call(r, "a/v"); got != int64(2) {
		t.Fatalf("a/v while util.lua is empty = %v, %v", got, err)
	}
	testutil.Rename(t, lib, lib+"~")
	rescan(t, w)
	if got, err := call(r, "a/v"); got != int64(2) {
		t.Fatalf("a/v while util.lua is moved away = %v, %v", got, err)
	}
	write(t, dir, "_lib/util.lua", `return { n = 5 }`)
	rescan(t, w)
	if got, err := call(r, "a/v"); got != int64(10) {
		t.Fatalf("a/v with util.lua's new version = %v, %v", got, err)
	}
}

// TestWatchServedFolderRemade checks that the served folder removed and
// made again is followed again.
func TestWatchServedFolderRemade(t *testing.T) {
	testutil.CheckGoroutines(t)
	top := testutil.WriteFiles(t, map[string]string{"lua/a.lua": `function v() return 1 end`})
	dir := filepath.Join(top, "lua")
	r, err := Open(context.Background(), dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	w, err := r.Watch(context.Background(), WatchConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := w.Rescan(ctx); err == nil {
		t.Fatal("Rescan of a folder gone: no error")
	}
	if got := mustCall(t, r, "a/v"); got != int64(1) {
		t.Fatalf("a/v while the folder is gone = %v, want what was served", got)
	}
	write(t, dir, "a.lua", `function v() return 2 end`)
	testutil.WaitFor(t, wait, answers(r, "a/v", int64(2)), "the remade folder's file")
	write(t, dir, "a.lua", `function v() return 3 end`)
	testutil.WaitFor(t, wait, answers(r, "a/v", int64(3)), "an edit in the remade folder")
}

// TestWatchBrokenLink checks that a served file that becomes a broken link
// stops being served after its grace, stays a failure, and leaves the
// watcher idle.
func TestWatchBrokenLink(t *testing.T) {
	r := openFiles(t, map[string]string{"a.lua": `function v() return 1 end`}, Config{})
	cfg, clk := polling(t, WatchConfig{Grace: 20 * time.Millisecond})
	w := newWatcher(r, cfg)
	clk.age(t, r.Dir(), DefaultDebounce)
	look(w)
	if err := os.Remove(filepath.Join(r.Dir(), "a.lua")); err != nil {
		t.Fatal(err)
	}
	testutil.Symlink(t, "nowhere.lua", filepath.Join(r.Dir(), "a.lua"))
	if next := look(w); next != 20*time.Millisecond {
		t.Fatalf("a look asked for in %v, want at the end of the grace", next)
	}
	clk.Advance(19 * time.Millisecond)
	if next := look(w); next != time.Millisecond || len(r.Namespaces()) != 1 {
		t.Fatalf("before the end of the grace: a look asked for in %v, served %v", next, r.Namespaces())
	}
	clk.Advance(time.Millisecond) // the end of the grace
	if next := look(w); next != 0 {
		t.Fatalf("another look asked for in %v", next)
	}
	if got := r.Namespaces(); len(got) != 0 {
		t.Fatalf("served %v after the grace", got)
	}
	if f := r.Failures(); len(f) != 1 || f[0].Path != "a.lua" {
		t.Fatalf("failures %v", f)
	}
	if next := look(w); next != 0 || len(r.Failures()) != 1 {
		t.Fatalf("next look: %v, failures %v", next, r.Failures())
	}
}

// TestWatchFailedThenGone checks that a file whose new version failed, then
// deleted, keeps its failure for its grace and is gone after one grace.
func TestWatchFailedThenGone(t *testing.T) {
	r := openFiles(t, map[string]string{"a.lua": `function v() return 1 end`}, Config{})
	cfg, clk := polling(t, WatchConfig{Grace: 50 * time.Millisecond})
	w := newWatcher(r, cfg)
	write(t, r.Dir(), "a.lua", `x(`)
	w.sync(context.Background(), true)
	if len(r.Failures()) != 1 {
		t.Fatal(r.Failures())
	}
	if err := os.Remove(filepath.Join(r.Dir(), "a.lua")); err != nil {
		t.Fatal(err)
	}
	w.sync(context.Background(), false)
	if len(r.Failures()) != 1 || len(r.Namespaces()) != 1 {
		t.Fatalf("within the grace: failures %v, namespaces %v", r.Failures(), r.Namespaces())
	}
	clk.Advance(50 * time.Millisecond) // the end of the grace
	w.sync(context.Background(), false)
	if len(r.Failures()) != 0 || len(r.Namespaces()) != 0 {
		t.Fatalf("after the grace: failures %v, namespaces %v", r.Failures(), r.Namespaces())
	}
}

// TestWatchCloseDuringLook checks that Close doesn't wait for a look to
// load every file it found.
func TestWatchCloseDuringLook(t *testing.T) {
	r, _, dir := watched(t, nil, WatchConfig{})
	sub := r.Subscribe()
	defer sub.Close()
	const files = 20
	slow := `local t = os.clock() while os.clock() - t < 0.05 do end function v() return 1 end`
	for i := range files {
		write(t, dir, fmt.Sprintf("f%02d.lua", i), slow)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := sub.Next(ctx); err != nil {
		t.Fatal(err)
	}
	r.Close()
	added := 1
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			break
		}
		if ev.Kind == Added {
			added++
		}
	}
	if added == files {
		t.Fatalf("all %d files were loaded: Close waited for the whole look", files)
	}
}

// TestOpenClashReportedOnce checks that a clash found by Open is not
// reported again by the watcher's first look.
func TestOpenClashReportedOnce(t *testing.T) {
	log, logs := testutil.NewLogger()
	dir := testutil.WriteFiles(t, map[string]string{"a/b.lua": `function v() end`, "a.b.lua": `function v() end`, "c.lua": `x(`})
	r, err := Open(context.Background(), dir, Config{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Watch(context.Background(), WatchConfig{}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "cannot serve namespace file"); n != 3 {
		t.Fatalf("%d failures logged for 3 files:\n%s", n, logs)
	}
}

func chtimes(t *testing.T, path string, at time.Time) {
	t.Helper()
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

func removeFile(dir, rel string) error { return os.Remove(filepath.Join(dir, filepath.FromSlash(rel))) }

package tests

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/engine"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/namespaces"
	"github.com/slacker-lua/slacker-lua/transport"
)

// settle bounds how long a change of the folder may take to be served.
const settle = 5 * time.Second

// TestReloadFileOperations proves that each way of changing the folder —
// creating, writing, replacing, renaming, moving and deleting files and
// whole folders — reaches a client: the new version answers, or a file gone
// gives not-found, while the files left alone keep answering.
func TestReloadFileOperations(t *testing.T) {
	cases := []struct {
		name   string
		files  map[string]string // the folder's first version
		needs  string            // a command the change runs; skipped when it is not on PATH
		change func(t *testing.T, dir string)
		want   map[string]any // function -> answer, or client.ErrNotFound
	}{{
		name:  "create",
		files: map[string]string{"a.lua": version("a1")},
		change: func(t *testing.T, dir string) {
			writeFile(t, dir, "b.lua", version("b1"))
		},
		want: map[string]any{"b/v": "b1", "a/v": "a1"},
	}, {
		name:  "write in place",
		files: map[string]string{"a.lua": version("a1")},
		change: func(t *testing.T, dir string) {
			writeFile(t, dir, "a.lua", version("a2"))
		},
		want: map[string]any{"a/v": "a2"},
	}, {
		name:  "write a temporary file and rename it over",
		files: map[string]string{"a.lua": version("a1"), "b.lua": version("b1")},
		change: func(t *testing.T, dir string) {
			renameOver(t, dir, "a.lua", version("a2"))
		},
		want: map[string]any{"a/v": "a2", "b/v": "b1"},
	}, {
		name:  "sed -i",
		files: map[string]string{"a.lua": version("a1")},
		needs: "sed",
		change: func(t *testing.T, dir string) {
			run(t, "sed", "-i", "s/a1/a2/", filepath.Join(dir, "a.lua"))
		},
		want: map[string]any{"a/v": "a2"},
	}, {
		name:  "cp onto",
		files: map[string]string{"a.lua": version("a1")},
		needs: "cp",
		change: func(t *testing.T, dir string) {
			src := writeFile(t, t.TempDir(), "a.lua", version("a2"))
			run(t, "cp", src, filepath.Join(dir, "a.lua"))
		},
		want: map[string]any{"a/v": "a2"},
	}, {
		name:  "rename",
		files: map[string]string{"a.lua": version("a1")},
		change: func(t *testing.T, dir string) {
			testutil.Rename(t, filepath.Join(dir, "a.lua"), filepath.Join(dir, "b.lua"))
		},
		want: map[string]any{"a/v": client.ErrNotFound, "b/v": "a1"},
	}, {
		name:  "move in from another folder",
		files: map[string]string{"a.lua": version("a1")},
		change: func(t *testing.T, dir string) {
			src := writeFile(t, t.TempDir(), "b.lua", version("b1"))
			testutil.Rename(t, src, filepath.Join(dir, "b.lua"))
		},
		want: map[string]any{"b/v": "b1", "a/v": "a1"},
	}, {
		name:  "move out to another folder",
		files: map[string]string{"a.lua": version("a1"), "b.lua": version("b1")},
		change: func(t *testing.T, dir string) {
			testutil.Rename(t, filepath.Join(dir, "a.lua"), filepath.Join(t.TempDir(), "a.lua"))
		},
		want: map[string]any{"a/v": client.ErrNotFound, "b/v": "b1"},
	}, {
		name:  "delete",
		files: map[string]string{"a.lua": version("a1"), "b.lua": version("b1")},
		change: func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "a.lua")); err != nil {
				t.Fatal(err)
			}
		},
		want: map[string]any{"a/v": client.ErrNotFound, "b/v": "b1"},
	}, {
		name:  "folder tree moved in",
		files: map[string]string{"a.lua": version("a1")},
		change: func(t *testing.T, dir string) {
			other := testutil.WriteFiles(t, map[string]string{
				"pkg/x.lua":       version("x"),
				"pkg/y/z.lua":     version("z"),
				"pkg/y/w/q.r.lua": version("q"),
			})
			testutil.Rename(t, filepath.Join(other, "pkg"), filepath.Join(dir, "pkg"))
		},
		want: map[string]any{"pkg.x/v": "x", "pkg.y.z/v": "z", "pkg.y.w.q.r/v": "q", "a/v": "a1"},
	}, {
		name:  "folder tree made in place",
		files: map[string]string{"a.lua": version("a1")},
		change: func(t *testing.T, dir string) {
			// The files are written as soon as their folders exist,
			// before the watcher can have started watching them.
			writeFile(t, dir, "new/deep/er/x.lua", version("x"))
			writeFile(t, dir, "new/deep/y.lua", version("y"))
		},
		want: map[string]any{"new.deep.er.x/v": "x", "new.deep.y/v": "y"},
	}, {
		name: "folder tree removed",
		files: map[string]string{
			"a.lua":         version("a1"),
			"pkg/x.lua":     version("x"),
			"pkg/y/z.lua":   version("z"),
			"pkg/y/w/q.lua": version("q"),
		},
		change: func(t *testing.T, dir string) {
			if err := os.RemoveAll(filepath.Join(dir, "pkg")); err != nil {
				t.Fatal(err)
			}
		},
		want: map[string]any{
			"pkg.x/v": client.ErrNotFound, "pkg.y.z/v": client.ErrNotFound,
			"pkg.y.w.q/v": client.ErrNotFound, "a/v": "a1",
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needs != "" {
				if _, err := exec.LookPath(tc.needs); err != nil {
					t.Skipf("%s is not on PATH", tc.needs)
				}
			}
			s, _, dir := serveFolder(t, tc.files)
			c := dial(t, s.addr, client.Config{})
			if n, want := len(s.reg.Namespaces()), len(tc.files); n != want {
				t.Fatalf("serving %v, want %d namespaces", s.reg.Namespaces(), want)
			}
			tc.change(t, dir)
			for _, fn := range slices.Sorted(maps.Keys(tc.want)) {
				waitServes(t, c, fn, tc.want[fn])
			}
			if f := s.reg.Failures(); len(f) != 0 {
				t.Fatalf("failures: %v", f)
			}
		})
	}
}

// TestReloadTruncateThenWrite proves that a file truncated and written
// again, as `cp` and editors that write in place do, keeps its old
// version answering while it is empty, even once the watcher has looked
// at it empty, and then serves the new one.
func TestReloadTruncateThenWrite(t *testing.T) {
	s, w, dir := serveFolder(t, map[string]string{"a.lua": version("a1")})
	c := dial(t, s.addr, client.Config{})
	waitServes(t, c, "a/v", "a1")

	f, err := os.OpenFile(filepath.Join(dir, "a.lua"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	emptied := time.Now()
	rescan(t, w) // the watcher has seen the file empty
	calls := 0
	for calls == 0 || time.Since(emptied) < 30*time.Millisecond {
		got, err := answer(c, "a/v")
		if err != nil || got != "a1" {
			t.Fatalf("a/v %v after a.lua was emptied (call %d): %v, %v; want the old version", time.Since(emptied), calls, got, err)
		}
		calls++
	}
	if since := time.Since(emptied); since >= namespaces.DefaultGrace {
		t.Fatalf("the file stayed empty %v, past the grace of %v: the test proves nothing", since, namespaces.DefaultGrace)
	}
	if _, err := f.WriteString(version("a2")); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	waitServes(t, c, "a/v", "a2")
	t.Logf("%d calls answered the old version while a.lua was empty", calls)
}

// TestReloadSlowWritesBackToBack proves that the grace an emptied file
// gets starts again when the file is written: two slow in-place writes in a
// row, each leaving the file empty for less than the grace, must never make
// the namespace not-found, even when the first write's content lasts too
// little for the watcher to see it.
func TestReloadSlowWritesBackToBack(t *testing.T) {
	const grace = 400 * time.Millisecond // each write leaves the file empty for less, both for more
	testutil.CheckGoroutines(t)
	dir := testutil.WriteFiles(t, map[string]string{"a.lua": version("v1")})
	s := serveDir(t, dir, engine.Config{}, transport.ServerConfig{})
	w, err := s.reg.Watch(context.Background(), namespaces.WatchConfig{Grace: grace})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, s.addr, client.Config{})
	k := startCaller(t, c, "a/v", "v1", "v2", "v3")
	k.waitCalls(t, 10)
	p := filepath.Join(dir, "a.lua")

	// slowWrite empties the file, runs then, and writes body once the file
	// has been empty for empty, as a writer that stalls does. It returns
	// how long the file was empty.
	slowWrite := func(body string, empty time.Duration, then func()) time.Duration {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		emptied := time.Now()
		then()
		time.Sleep(empty - time.Since(emptied)) // the writer stalls
		if _, err := f.WriteString(body); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		return time.Since(emptied)
	}
	// The watcher sees the file empty at once, and not the first version's
	// content, which the second write empties again within microseconds.
	e1 := slowWrite(version("v2"), 250*time.Millisecond, func() { rescan(t, w) })
	e2 := slowWrite(version("v3"), 200*time.Millisecond, func() {})
	waitServes(t, c, "a/v", "v3")
	t.Logf("a.lua empty %v, then %v; the grace is %v", e1.Round(time.Millisecond), e2.Round(time.Millisecond), grace)
	if e1 >= grace || e2 >= grace {
		t.Fatalf("the file was empty %v, then %v: a write stalled past the grace of %v, so the test proves nothing", e1, e2, grace)
	}
	k.check(t)
}

// TestReloadSlowWriterInChunks proves that a file written in place by a
// writer that pauses between two writes for less than the Debounce is not
// served before the writer is done: the old version keeps answering. (A
// longer pause reads as a finished file: Debounce bounds the pauses a
// writer in place may take.)
func TestReloadSlowWriterInChunks(t *testing.T) {
	testutil.CheckGoroutines(t)
	dir := testutil.WriteFiles(t, map[string]string{"a.lua": version("v1")})
	s := serveWatched(t, dir, engine.Config{}, namespaces.WatchConfig{Debounce: 150 * time.Millisecond})
	c := dial(t, s.addr, client.Config{})
	k := startCaller(t, c, "a/v", "v1", "v2")
	k.waitCalls(t, 10)

	src := strings.Repeat("-- a long comment that starts the file, as docs do\n", 100) + version("v2")
	f, err := os.OpenFile(filepath.Join(dir, "a.lua"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i, chunk := range []string{src[:4096], src[4096:]} {
		if i > 0 {
			time.Sleep(40 * time.Millisecond) // the writer pauses, for less than the Debounce
		}
		if _, err := f.WriteString(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	waitServes(t, c, "a/v", "v2")
	k.check(t)
}

// TestReloadVimBackup proves that vim's way of saving — probe the folder
// with a file named 4913, move the file to a backup "api.lua~", write the
// new file, delete the backup — never leaves the namespace not-found for a
// client calling it all along, whether the dance is quick or the watcher
// looks through the folder after every step.
func TestReloadVimBackup(t *testing.T) {
	dance := func(t *testing.T, dir string, step func()) {
		p := filepath.Join(dir, "api.lua")
		writeFile(t, dir, "4913", "")
		step()
		if err := os.Remove(filepath.Join(dir, "4913")); err != nil {
			t.Fatal(err)
		}
		step()
		testutil.Rename(t, p, p+"~")
		step()
		writeFile(t, dir, "api.lua", version("v2"))
		step()
		if err := os.Remove(p + "~"); err != nil {
			t.Fatal(err)
		}
		step()
	}
	cases := []struct {
		name  string
		needs string
		save  func(t *testing.T, dir string, w *namespaces.Watcher)
	}{{
		name: "quick",
		save: func(t *testing.T, dir string, _ *namespaces.Watcher) {
			dance(t, dir, func() {})
		},
	}, {
		name: "the watcher looking after each step",
		save: func(t *testing.T, dir string, w *namespaces.Watcher) {
			dance(t, dir, func() { rescan(t, w) })
		},
	}, {
		name:  "vim itself",
		needs: "vim",
		save: func(t *testing.T, dir string, _ *namespaces.Watcher) {
			// -u NONE: the defaults, writebackup and backupcopy=auto
			// included, which make the dance above.
			run(t, "vim", "-u", "NONE", "-i", "NONE", "-N", "-es",
				"-c", "%s/v1/v2/", "-c", "wq", filepath.Join(dir, "api.lua"))
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needs != "" {
				if _, err := exec.LookPath(tc.needs); err != nil {
					t.Skipf("%s is not on PATH", tc.needs)
				}
			}
			s, w, dir := serveFolder(t, map[string]string{"api.lua": version("v1")})
			c := dial(t, s.addr, client.Config{})
			k := startCaller(t, c, "api/v", "v1", "v2")
			k.waitCalls(t, 10)
			tc.save(t, dir, w)
			waitServes(t, c, "api/v", "v2")
			k.check(t)
			rescan(t, w)
			if got := s.reg.Namespaces(); !slices.Equal(got, []string{"api"}) {
				t.Fatalf("serving %v after the save, want [api]", got)
			}
			if f := s.reg.Failures(); len(f) != 0 {
				t.Fatalf("failures: %v", f)
			}
		})
	}
}

// TestReloadConfigMap proves that a folder laid out as Kubernetes mounts a
// ConfigMap — the files in a timestamped folder, reached through the
// symbolic link ..data, which an update swaps to a new folder — serves each
// update, and that the namespace answers all along.
func TestReloadConfigMap(t *testing.T) {
	dir := t.TempDir()
	const ts = "..2026_12_01_00_00_00.1"
	writeFile(t, dir, ts+"/api.lua", version("v1"))
	testutil.Symlink(t, ts, filepath.Join(dir, "..data"))
	testutil.Symlink(t, "..data/api.lua", filepath.Join(dir, "api.lua"))

	s, w := serveWatcher(t, dir)
	c := dial(t, s.addr, client.Config{})
	waitServes(t, c, "api/v", "v1")
	k := startCaller(t, c, "api/v", "v1", "v2", "v3")
	k.waitCalls(t, 10)

	// What the kubelet's atomic writer does for each update.
	old := ts
	for i, v := range []string{"v2", "v3"} {
		next := fmt.Sprintf("..2026_12_01_00_0%d_00.%d", i+1, i+2)
		writeFile(t, dir, next+"/api.lua", version(v))
		testutil.Symlink(t, next, filepath.Join(dir, "..data_tmp"))
		testutil.Rename(t, filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data"))
		if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
			t.Fatal(err)
		}
		old = next
		waitServes(t, c, "api/v", v)
	}
	k.check(t)
	rescan(t, w)
	if got := s.reg.Namespaces(); !slices.Equal(got, []string{"api"}) {
		t.Fatalf("serving %v, want [api]", got)
	}
	if f := s.reg.Failures(); len(f) != 0 {
		t.Fatalf("failures: %v", f)
	}
}

// TestReloadIgnoresFiles proves that hidden files and folders, editor swap
// and backup files and files not ending in .lua create no namespace, record
// no failure and cause no event, even when they hold broken Lua.
func TestReloadIgnoresFiles(t *testing.T) {
	s, w, dir := serveFolder(t, map[string]string{"a.lua": version("a1")})
	c := dial(t, s.addr, client.Config{})
	sub := s.reg.Subscribe()
	defer sub.Close()

	const broken = "function v( return\n"
	for _, name := range []string{
		".x.lua",          // hidden
		".hidden/y.lua",   // in a hidden folder
		"_wip/z.lua",      // in a helper folder
		"a.lua.swp",       // vim's swap file
		"a.lua.swx",       // vim's second swap file
		"a.lua~",          // a backup
		"#a.lua#",         // emacs' autosave
		"4913",            // vim's probe
		"notes.txt",       // not a .lua file
		"b.lua.orig",      // not a .lua file
		"lua/README.md",   // not a .lua file, in a folder of its own
		".git/HEAD.lua.x", // all of that
	} {
		writeFile(t, dir, name, broken)
	}
	writeFile(t, dir, "notes.txt", "written twice") // a Write event, not only a Create
	rescan(t, w)
	if got := s.reg.Namespaces(); !slices.Equal(got, []string{"a"}) {
		t.Errorf("serving %v, want [a]", got)
	}
	if f := s.reg.Failures(); len(f) != 0 {
		t.Errorf("failures: %v", f)
	}
	waitServes(t, c, "a/v", "a1")

	// A file that counts ends the events: none came before it but the
	// first namespace's.
	writeFile(t, dir, "z.lua", version("z"))
	waitServes(t, c, "z/v", "z")
	want := []string{"added a a.lua", "added z z.lua"}
	if got := nextEvents(t, sub, len(want)); !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
}

// TestReloadLibModule proves that a change to a module of _lib that a
// namespace requires reloads that namespace, a broken module leaves its
// last version answering, and a namespace that doesn't require it is not
// loaded again: its state survives.
func TestReloadLibModule(t *testing.T) {
	s, w, dir := serveFolder(t, map[string]string{
		"_lib/util/text.lua": `return { greeting = "hello" }`,
		"api.lua":            `local text = require("util.text") function v() return text.greeting end`,
		"counter.lua":        "_options = { stateful = true }\nlocal n = 0\nfunction inc() n = n + 1 return n end\n",
	})
	c := dial(t, s.addr, client.Config{})
	waitServes(t, c, "api/v", "hello")
	if got := callAs[int](t, c, "counter/inc"); got != 1 {
		t.Fatalf("counter/inc = %d, want 1", got)
	}

	writeFile(t, dir, "_lib/util/text.lua", `return { greeting = "bonjour" }`)
	waitServes(t, c, "api/v", "bonjour")

	writeFile(t, dir, "_lib/util/text.lua", "return {\n  greeting = \n")
	f := waitFailure(t, s.reg, "api.lua")
	// The error is the require's, on line 1 of api.lua; its message says
	// where in the module.
	var le *engine.LoadError
	if !errors.As(f.Err, &le) || le.Path != "api.lua" || le.Line != 1 {
		t.Fatalf("failure of api.lua: %v (%T), want a *engine.LoadError at api.lua:1", f.Err, f.Err)
	}
	waitServes(t, c, "api/v", "bonjour")

	renameOver(t, dir, "_lib/util/text.lua", `return { greeting = "hola" }`)
	waitServes(t, c, "api/v", "hola")
	if f := s.reg.Failures(); len(f) != 0 {
		t.Fatalf("failures after the module was fixed: %v", f)
	}
	rescan(t, w)
	if got := callAs[int](t, c, "counter/inc"); got != 2 {
		t.Fatalf("counter/inc = %d after the module changed, want 2: counter was loaded again", got)
	}
}

// TestReloadBrokenVersion proves that a version that fails to load — a
// syntax error, or an error raised while the file runs — leaves the version
// served before answering (or, for a new file, nothing), is reported with
// its file and line, and that fixing the file serves it and clears the
// failure.
func TestReloadBrokenVersion(t *testing.T) {
	cases := []struct {
		name   string
		file   string // the namespace file
		first  string // its first version; "" for none
		broken string
		line   int // the line of the error
		during any // what file's v answers while broken
	}{{
		name:   "syntax error",
		file:   "a.lua",
		first:  version("a1"),
		broken: "-- a comment\nfunction v( return \"a2\" end\n",
		line:   2,
		during: "a1",
	}, {
		name:   "error while loading",
		file:   "a.lua",
		first:  version("a1"),
		broken: version("a2") + "error(\"boom\")\n",
		line:   2,
		during: "a1",
	}, {
		name:   "new file with a syntax error",
		file:   "b/c.lua",
		broken: "function v()\n  return = \"c\"\nend\n",
		line:   2,
		during: client.ErrNotFound,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"other.lua": version("other")}
			if tc.first != "" {
				files[tc.file] = tc.first
			}
			s, _, dir := serveFolder(t, files)
			c := dial(t, s.addr, client.Config{})
			ns, err := namespaces.NameOf(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			fn := ns + "/v"

			writeFile(t, dir, tc.file, tc.broken)
			f := waitFailure(t, s.reg, tc.file)
			var le *engine.LoadError
			switch {
			case f.Name != ns:
				t.Errorf("failure names namespace %q, want %q", f.Name, ns)
			case !errors.As(f.Err, &le):
				t.Errorf("failure: %v (%T), want a *engine.LoadError", f.Err, f.Err)
			case le.Path != tc.file || le.Line != tc.line:
				t.Errorf("load error at %s:%d, want %s:%d (%v)", le.Path, le.Line, tc.file, tc.line, le)
			}
			waitServes(t, c, fn, tc.during)
			waitServes(t, c, "other/v", "other")

			writeFile(t, dir, tc.file, version("fixed"))
			waitServes(t, c, fn, "fixed")
			if f := s.reg.Failures(); len(f) != 0 {
				t.Fatalf("failures after the fix: %v", f)
			}
		})
	}
}

// TestReloadNameClash proves that a file added with the name of a
// namespace another file serves leaves the first serving and fails with a
// *namespaces.ClashError, and that deleting the first serves the second.
func TestReloadNameClash(t *testing.T) {
	s, _, dir := serveFolder(t, map[string]string{"a/b.lua": version("folder")})
	c := dial(t, s.addr, client.Config{})
	waitServes(t, c, "a.b/v", "folder")

	writeFile(t, dir, "a.b.lua", version("dots"))
	f := waitFailure(t, s.reg, "a.b.lua")
	var ce *namespaces.ClashError
	if !errors.As(f.Err, &ce) {
		t.Fatalf("failure of a.b.lua: %v (%T), want a *namespaces.ClashError", f.Err, f.Err)
	}
	if want := []string{"a.b.lua", "a/b.lua"}; ce.Name != "a.b" || !slices.Equal(ce.Paths, want) {
		t.Fatalf("clash of %q between %q, want a.b between %q", ce.Name, ce.Paths, want)
	}
	waitServes(t, c, "a.b/v", "folder")

	if err := os.Remove(filepath.Join(dir, "a", "b.lua")); err != nil {
		t.Fatal(err)
	}
	waitServes(t, c, "a.b/v", "dots")
	if f := s.reg.Failures(); len(f) != 0 {
		t.Fatalf("failures once a/b.lua is gone: %v", f)
	}
}

// TestReloadSubscribe proves that a subscription reports, in order, what a
// sequence of file operations did: added, updated, failed, cleared and
// removed, each with its namespace, file and version.
func TestReloadSubscribe(t *testing.T) {
	s, _, dir := serveFolder(t, map[string]string{"a.lua": version("a1")})
	c := dial(t, s.addr, client.Config{})
	sub := s.reg.Subscribe()
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), settle)
	defer cancel()

	type event struct {
		kind      namespaces.EventKind
		namespace string
		path      string
		src       string // the version's source; its hash is the event's
	}
	const broken = "function v( return \"a\" end\n"
	steps := []struct {
		what   string
		change func()
		wait   func() // until the change is seen
		want   []event
	}{{
		what:   "subscribing",
		change: func() {},
		wait:   func() {},
		want:   []event{{namespaces.Added, "a", "a.lua", version("a1")}},
	}, {
		what:   "creating b.lua",
		change: func() { writeFile(t, dir, "b.lua", version("b1")) },
		wait:   func() { waitServes(t, c, "b/v", "b1") },
		want:   []event{{namespaces.Added, "b", "b.lua", version("b1")}},
	}, {
		what:   "writing a.lua",
		change: func() { writeFile(t, dir, "a.lua", version("a2")) },
		wait:   func() { waitServes(t, c, "a/v", "a2") },
		want:   []event{{namespaces.Updated, "a", "a.lua", version("a2")}},
	}, {
		what:   "breaking a.lua",
		change: func() { writeFile(t, dir, "a.lua", broken) },
		wait:   func() { waitFailure(t, s.reg, "a.lua") },
		want:   []event{{namespaces.Failed, "a", "a.lua", broken}},
	}, {
		what:   "fixing a.lua",
		change: func() { renameOver(t, dir, "a.lua", version("a3")) },
		wait:   func() { waitServes(t, c, "a/v", "a3") },
		want:   []event{{namespaces.Updated, "a", "a.lua", version("a3")}, {namespaces.Cleared, "a", "a.lua", broken}},
	}, {
		what: "deleting b.lua",
		change: func() {
			if err := os.Remove(filepath.Join(dir, "b.lua")); err != nil {
				t.Fatal(err)
			}
		},
		wait: func() { waitServes(t, c, "b/v", client.ErrNotFound) },
		want: []event{{namespaces.Removed, "b", "b.lua", version("b1")}},
	}}
	for _, st := range steps {
		st.change()
		st.wait()
		for _, want := range st.want {
			ev, err := sub.Next(ctx)
			if err != nil {
				t.Fatalf("%s: waiting for %s %s: %v", st.what, want.kind, want.namespace, err)
			}
			got := fmt.Sprintf("%s %s %s %.12s", ev.Kind, ev.Namespace, ev.Path, ev.Hash)
			if w := fmt.Sprintf("%s %s %s %.12s", want.kind, want.namespace, want.path, engine.Hash([]byte(want.src))); got != w {
				t.Fatalf("%s: event %q, want %q", st.what, got, w)
			}
			var le *engine.LoadError
			if ev.Kind == namespaces.Failed && !errors.As(ev.Err, &le) {
				t.Errorf("%s: failed event with %v (%T), want a *engine.LoadError", st.what, ev.Err, ev.Err)
			}
			if (ev.Kind == namespaces.Updated || ev.Kind == namespaces.Added && st.what != "subscribing") && ev.Took <= 0 {
				t.Errorf("%s: %s event took %v, want how long the load took", st.what, ev.Kind, ev.Took)
			}
		}
	}
}

// TestReloadUnderLoad proves that rewriting a file a thousand times, in
// place and by renaming over it, while 64 clients call it without pause
// fails no call, only ever answers a version that was written, never goes
// back to an older version, and serves the last version to every caller
// within 100ms of the last write. The writes come in bursts, each left
// alone until its last version is served, so that the namespace is
// swapped many times under the callers, and bursts of changes are read
// once.
func TestReloadUnderLoad(t *testing.T) {
	const (
		callers  = 64
		writes   = 1000 // version i, for i in 1..writes, returns i
		after    = 50   // calls each caller makes once it saw the last version
		pace     = 500 * time.Microsecond
		burst    = 8 // writes; then the file is left alone until served
		deadline = 100 * time.Millisecond
	)
	s, w, dir := serveFolder(t, map[string]string{"load.lua": loadVersion(0)})
	sub := s.reg.Subscribe()
	defer sub.Close()
	conns := []*client.Client{dial(t, s.addr, client.Config{}), dial(t, s.addr, client.Config{})}

	stats := make([]loadStats, callers)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var started, finished atomic.Int64
	for i := range callers {
		wg.Go(func() { stats[i].run(conns[i%len(conns)], writes, after, stop, &started, &finished) })
	}
	var once sync.Once
	stopCallers := func() { once.Do(func() { close(stop); wg.Wait() }) }
	defer stopCallers()
	testutil.WaitFor(t, settle, func() bool { return started.Load() == callers }, "every caller's first answer")

	written := map[int]bool{0: true}
	hashes := map[string]bool{engine.Hash([]byte(loadVersion(0))): true}
	var longest time.Duration // the longest write in place
	begin := time.Now()
	for i := 1; i <= writes; i++ {
		src := loadVersion(i)
		if (i/2)%2 == 0 {
			start := time.Now()
			writeFile(t, dir, "load.lua", src)
			longest = max(longest, time.Since(start)) // the file is empty less long
		} else {
			renameOver(t, dir, "load.lua", src)
		}
		written[i] = true
		hashes[engine.Hash([]byte(src))] = true
		switch {
		case i == writes:
		case i%burst == 0:
			testutil.WaitFor(t, settle, func() bool {
				v, err := client.CallAs[int](context.Background(), conns[0], "load/v")
				return err == nil && v == i
			}, fmt.Sprintf("version %d to be served", i))
		default:
			time.Sleep(pace)
		}
	}
	lastWrite := time.Now()
	testutil.WaitFor(t, settle, func() bool { return finished.Load() == callers },
		fmt.Sprintf("every caller to make %d calls after seeing version %d", after, writes))
	stopCallers()

	var calls, failed int
	var errs, wrong, older []string
	var firstSeen, lastSeen time.Duration
	for i := range stats {
		st := &stats[i]
		calls += st.calls
		failed += st.failed
		errs = append(errs, st.errs...)
		for v := range st.seen {
			if !written[v] {
				wrong = append(wrong, fmt.Sprintf("caller %d: %d", i, v))
			}
		}
		older = append(older, st.older...)
		d := st.firstLast.Sub(lastWrite)
		if i == 0 || d < firstSeen {
			firstSeen = d
		}
		lastSeen = max(lastSeen, d)
	}
	served, failures := drainEvents(sub)
	var unwritten []string
	for _, h := range served {
		if !hashes[h] {
			unwritten = append(unwritten, fmt.Sprintf("%.12s (%s)", h, whatVersion(h, writes)))
		}
	}
	t.Logf("%d writes in %v (the longest in place %v), %d reloads, %d failed loads; %d calls by %d callers; version %d first seen %v after the last write, by every caller %v after",
		writes, lastWrite.Sub(begin).Round(time.Millisecond), longest.Round(time.Microsecond), len(served), len(failures),
		calls, callers, writes, firstSeen.Round(time.Microsecond), lastSeen.Round(time.Microsecond))
	if failed > 0 {
		t.Errorf("%d of %d calls failed; the first: %s", failed, calls, strings.Join(first(errs, 5), "; "))
	}
	if len(wrong) > 0 {
		t.Errorf("answers that are no version written: %s", strings.Join(first(wrong, 5), "; "))
	}
	if len(unwritten) > 0 {
		t.Errorf("%d versions served that were never written: %s", len(unwritten), strings.Join(first(unwritten, 5), "; "))
	}
	if len(older) > 0 {
		t.Errorf("%d answers older than one the caller saw before: %s", len(older), strings.Join(first(older, 5), "; "))
	}
	if len(served) < writes/burst/2 {
		t.Errorf("%d reloads, want at least %d: the callers hardly saw a swap", len(served), writes/burst/2)
	}
	if lastSeen >= deadline {
		t.Errorf("a caller first saw version %d %v after the last write, want less than %v", writes, lastSeen, deadline)
	}
	if len(failures) > 0 {
		t.Logf("loads that failed while the file was written (the version before kept serving): %s", strings.Join(first(failures, 5), "; "))
	}
	rescan(t, w)
	if f := s.reg.Failures(); len(f) != 0 {
		t.Errorf("failures after the last write: %v", f)
	}
}

// loadStats is what one caller of TestReloadUnderLoad saw. Its caller's
// goroutine owns it until it returns.
type loadStats struct {
	calls, failed int
	errs          []string     // the first errors
	seen          map[int]bool // the versions answered
	older         []string     // the first answers older than one seen before
	firstLast     time.Time    // when the last version first answered
}

// run calls load/v until stop is closed, counting in started its first
// answer and in finished the after-th call since the version last first
// answered.
func (st *loadStats) run(c *client.Client, last, after int, stop <-chan struct{}, started, finished *atomic.Int64) {
	st.seen = make(map[int]bool)
	newest, since := -1, 0
	for {
		select {
		case <-stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), settle)
		v, err := client.CallAs[int](ctx, c, "load/v")
		cancel()
		now := time.Now()
		st.calls++
		if err != nil {
			st.failed++
			if len(st.errs) < 5 {
				st.errs = append(st.errs, fmt.Sprintf("call %d, after version %d: %v", st.calls, newest, err))
			}
			continue
		}
		if newest < 0 {
			started.Add(1)
		}
		st.seen[v] = true
		if v < newest && len(st.older) < 5 {
			st.older = append(st.older, fmt.Sprintf("%d after %d", v, newest))
		}
		newest = max(newest, v)
		if v == last && st.firstLast.IsZero() {
			st.firstLast = now
		}
		if !st.firstLast.IsZero() {
			if since++; since == after {
				finished.Add(1)
			}
		}
	}
}

// loadVersion is the i-th version of load.lua for TestReloadUnderLoad. The
// versions alternate between two shapes and sizes; the larger starts with
// a comment of several kilobytes, so that a version read in part is a file
// without the function.
func loadVersion(i int) string {
	if i%2 == 0 {
		return fmt.Sprintf("function v() return %d end\n", i)
	}
	return strings.Repeat("-- padding, to make this version span pages\n", 150) +
		fmt.Sprintf("local n = %d\nfunction v() return n end\n", i)
}

// drainEvents takes the events queued in sub and returns the versions
// reloads served, and the failures.
func drainEvents(sub *namespaces.Subscription) (served []string, failures []string) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Next returns what is queued, then ctx's error
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			return served, failures
		}
		switch ev.Kind {
		case namespaces.Updated:
			served = append(served, ev.Hash)
		case namespaces.Failed:
			failures = append(failures, ev.Err.Error())
		}
	}
}

// whatVersion says what the source of hash was, when it is no version of
// load.lua written: the start of one, cut at a page, as a read that raced a
// write in place got it.
func whatVersion(hash string, last int) string {
	for i := range last + 1 {
		src := loadVersion(i)
		for n := 0; n < len(src); n += 4096 {
			if engine.Hash([]byte(src[:n])) == hash {
				if n == 0 {
					return "the empty file"
				}
				return fmt.Sprintf("the first %d of the %d bytes of version %d, or of another with the same start", n, len(src), i)
			}
		}
	}
	return "not the start of a version, cut at a page"
}

// serveFolder writes files to a new folder and serves it with a watcher
// until the test ends, checking that no goroutine outlives the test.
func serveFolder(t *testing.T, files map[string]string) (*server, *namespaces.Watcher, string) {
	t.Helper()
	testutil.CheckGoroutines(t)
	dir := testutil.WriteFiles(t, files)
	s, w := serveWatcher(t, dir)
	return s, w, dir
}

// serveWatcher is serveWatched with the zero WatchConfig, returning the
// watcher too, for Rescan.
func serveWatcher(t *testing.T, dir string) (*server, *namespaces.Watcher) {
	t.Helper()
	s := serveDir(t, dir, engine.Config{}, transport.ServerConfig{})
	w, err := s.reg.Watch(context.Background(), namespaces.WatchConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return s, w
}

// rescan makes the watcher look through the folder, and waits until it
// did.
func rescan(t *testing.T, w *namespaces.Watcher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), settle)
	defer cancel()
	if err := w.Rescan(ctx); err != nil {
		t.Fatalf("Rescan: %v", err)
	}
}

// version is a namespace file whose function v returns s.
func version(s string) string { return fmt.Sprintf("function v() return %q end\n", s) }

// answer calls fn without arguments and returns its answer.
func answer(c *client.Client, fn string) (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), settle)
	defer cancel()
	res, err := c.Call(ctx, fn)
	if err != nil {
		return nil, err
	}
	return res.Value()
}

// matches reports whether an answer is want: a value, or an error that
// errors.Is matches, such as client.ErrNotFound.
func matches(got any, err error, want any) bool {
	if werr, ok := want.(error); ok {
		return errors.Is(err, werr)
	}
	return err == nil && got == want
}

// waitServes waits until fn answers want (see matches).
func waitServes(t *testing.T, c *client.Client, fn string, want any) {
	t.Helper()
	var got any
	var err error
	done := false
	defer func() {
		if !done {
			t.Logf("%s last answered %v, %v", fn, got, err)
		}
	}()
	testutil.WaitFor(t, settle, func() bool {
		got, err = answer(c, fn)
		return matches(got, err, want)
	}, fmt.Sprintf("%s to answer %v", fn, want))
	done = true
}

// waitFailure waits until the registry holds a failure of the file rel,
// and returns it.
func waitFailure(t *testing.T, reg *namespaces.Registry, rel string) namespaces.Failure {
	t.Helper()
	var f namespaces.Failure
	testutil.WaitFor(t, settle, func() bool {
		i := slices.IndexFunc(reg.Failures(), func(f namespaces.Failure) bool { return f.Path == rel })
		if i >= 0 {
			f = reg.Failures()[i]
		}
		return i >= 0
	}, "a failure of "+rel)
	return f
}

// nextEvents returns the next n events of sub, as "kind namespace path".
func nextEvents(t *testing.T, sub *namespaces.Subscription, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), settle)
	defer cancel()
	var got []string
	for range n {
		ev, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("after events %q: %v", got, err)
		}
		got = append(got, fmt.Sprintf("%s %s %s", ev.Kind, ev.Namespace, ev.Path))
	}
	return got
}

// caller calls a function in a loop on its own goroutine, for as long as
// the test runs or until check, and keeps what went wrong.
type caller struct {
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
	calls atomic.Int64

	// Owned by the goroutine until done is closed.
	bad  []string // the first calls that failed or answered no wanted version
	nbad int
}

// startCaller calls fn through c until check, or the end of the test;
// answers other than wants are errors.
func startCaller(t *testing.T, c *client.Client, fn string, wants ...any) *caller {
	k := &caller{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(k.done)
		for {
			select {
			case <-k.stop:
				return
			default:
			}
			got, err := answer(c, fn)
			n := k.calls.Add(1)
			if !slices.ContainsFunc(wants, func(w any) bool { return matches(got, err, w) }) {
				k.nbad++
				if len(k.bad) < 5 {
					k.bad = append(k.bad, fmt.Sprintf("call %d: %v, %v", n, got, err))
				}
			}
		}
	}()
	t.Cleanup(k.halt)
	return k
}

func (k *caller) halt() {
	k.once.Do(func() { close(k.stop) })
	<-k.done
}

// waitCalls waits until the caller made n calls.
func (k *caller) waitCalls(t *testing.T, n int64) {
	t.Helper()
	testutil.WaitFor(t, settle, func() bool { return k.calls.Load() >= n }, fmt.Sprintf("%d calls", n))
}

// check stops the caller and fails the test if a call went wrong.
func (k *caller) check(t *testing.T) {
	t.Helper()
	k.halt()
	if k.nbad > 0 {
		t.Fatalf("%d of %d calls went wrong; the first: %s", k.nbad, k.calls.Load(), strings.Join(k.bad, "; "))
	}
	t.Logf("%d calls, all answered", k.calls.Load())
}

// writeFile writes body to the file rel under dir, making its folders, and
// returns its path.
func writeFile(t *testing.T, dir, rel, body string) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// renameOver replaces the file rel under dir with body as editors do:
// it writes a temporary file beside it and renames that over it.
func renameOver(t *testing.T, dir, rel, body string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	tmp := filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".tmp")
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.Rename(t, tmp, p)
}

// run runs a command, failing the test if it fails.
func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// first returns the first n of list at most.
func first(list []string, n int) []string { return list[:min(n, len(list))] }

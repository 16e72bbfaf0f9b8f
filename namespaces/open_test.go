package namespaces

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/slacker-lua/slacker-lua/engine"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
)

func TestOpen(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{
		"top.lua":                      `function hi() return "hi" end`,
		"slacker/example/api.lua":      "local text = require('util.text')\nlocal M = {}\nfunction M.shout(s) return text.upper(s) end\nreturn M",
		"slacker.example.math.lua":     `function add(a, b) return a + b end`,
		"deep/er/still/x.lua":          `function f() return slacker.namespace end`,
		"_lib/util/text.lua":           `return { upper = function(s) return string.upper(s) .. "!" end }`,
		"_wip/y.lua":                   `function f() end`,
		"_draft.lua":                   `function f() end`,
		".hidden/z.lua":                `function f() end`,
		".dot.lua":                     `function f() end`,
		"README.md":                    "# not Lua",
		"slacker/notes.txt":            "not Lua either",
		"slacker/example/empty/.keep":  "",
		"slacker/example/api_test.lua": `function test_shout(t) end`,
	})
	r, err := Open(context.Background(), dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)

	want := []string{"deep.er.still.x", "slacker.example.api", "slacker.example.math", "top"}
	if got := r.Namespaces(); !reflect.DeepEqual(got, want) {
		t.Errorf("Namespaces() = %q, want %q", got, want)
	}
	if f := r.Failures(); len(f) != 0 {
		t.Errorf("Failures() = %v", f)
	}
	if abs, _ := filepath.Abs(dir); r.Dir() != abs {
		t.Errorf("Dir() = %q, want %q", r.Dir(), abs)
	}
	for name, want := range map[string]any{
		"top/hi":                    "hi",
		"slacker.example.api/shout": "HEY!",
		"slacker.example.math/add":  int64(3),
		"deep.er.still.x/f":         "deep.er.still.x",
	} {
		var args []any
		switch name {
		case "slacker.example.api/shout":
			args = []any{"hey"}
		case "slacker.example.math/add":
			args = []any{1, 2}
		}
		if got := mustCall(t, r, name, args...); got != want {
			t.Errorf("%s = %#v, want %#v", name, got, want)
		}
	}
}

func TestOpenSymlinks(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{
		"real/x.lua": `function f() return slacker.namespace end`,
	})
	for link, target := range map[string]string{
		"y.lua":       "real/x.lua",    // a file
		"alias":       "real",          // a folder
		"real/up":     "..",            // a loop
		"gone.lua":    "nowhere.lua",   // broken
		"gone":        "nowhere",       // broken, not Lua: skipped
		"real/me.lua": "../real/x.lua", // a file through a folder
	} {
		if err := os.Symlink(target, filepath.Join(dir, filepath.FromSlash(link))); err != nil {
			t.Skipf("cannot make symbolic links: %v", err)
		}
	}
	logger, logs := testutil.NewLogger()
	r, err := Open(context.Background(), dir, Config{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	want := []string{"alias.me", "alias.x", "real.me", "real.x", "y"}
	if got := r.Namespaces(); !reflect.DeepEqual(got, want) {
		t.Errorf("Namespaces() = %q, want %q", got, want)
	}
	if got := mustCall(t, r, "alias.x/f"); got != "alias.x" {
		t.Errorf("alias.x/f = %v", got)
	}
	f := r.Failures()
	if len(f) != 1 || f[0].Path != "gone.lua" || !errors.Is(f[0].Err, os.ErrNotExist) {
		t.Errorf("Failures() = %v, want gone.lua not found", f)
	}
	if !strings.Contains(logs.String(), "loop") {
		t.Errorf("the loop is not logged:\n%s", logs)
	}
}

func TestOpenClash(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{
		"slacker/example/api.lua": `function f() end`,
		"slacker.example.api.lua": `function f() end`,
		"a/b.lua":                 `function f() end`,
		"a.b.lua":                 `function f() end`,
		"a/b/c.lua":               `function f() end`,
		"a.b/c.lua":               `function f() end`,
		"a/b.c.lua":               `function f() end`,
		"ok.lua":                  `function f() end`,
	})
	r, err := Open(context.Background(), dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := r.Namespaces(); len(got) != 1 || got[0] != "ok" {
		t.Errorf("served %v, want only ok: a namespace two files name is served from neither", got)
	}
	msgs := make(map[string]string)
	for _, f := range r.Failures() {
		var ce *ClashError
		if !errors.As(f.Err, &ce) || !slices.Contains(ce.Paths, f.Path) || ce.Name != f.Name {
			t.Errorf("failure %+v, want a *ClashError naming it", f)
		}
		msgs[f.Path] = f.Err.Error()
	}
	for path, want := range map[string]string{
		"slacker/example/api.lua": "slacker.example.api is defined by both slacker.example.api.lua and slacker/example/api.lua",
		"slacker.example.api.lua": "slacker.example.api is defined by both slacker.example.api.lua and slacker/example/api.lua",
		"a.b.lua":                 "a.b is defined by both a.b.lua and a/b.lua",
		"a/b/c.lua":               "a.b.c is defined by a.b/c.lua, a/b.c.lua and a/b/c.lua",
	} {
		if msgs[path] != want {
			t.Errorf("%s: %q, want %q", path, msgs[path], want)
		}
	}
	if len(msgs) != 7 {
		t.Errorf("%d failures, want 7: %v", len(msgs), msgs)
	}
}

func TestOpenFailures(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{
		"good.lua":         `function hi() return "hi" end`,
		"syntax.lua":       "function oops(\n  return 1\nend",
		"app/runtime.lua":  "local x = 1\nerror('cannot start')\n",
		"needs.lua":        "local m = require('missing.mod')\nfunction f() end",
		"badmod.lua":       "local m = require('bad')\nfunction f() end",
		"_lib/bad.lua":     "local x = \n",
		"modfails.lua":     "local m = require('rt')\nfunction f() end",
		"_lib/rt.lua":      "local x = 1\nerror('module fails')\n",
		"options.lua":      "_options = { pool_size = 'many' }\nfunction f() end",
		"my namespace.lua": `function f() end`,
		"also/good.lua":    `function hi() return "also" end`,
	})
	logger, logs := testutil.NewLogger()
	r, err := Open(context.Background(), dir, Config{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)

	if got, want := r.Namespaces(), []string{"also.good", "good"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Namespaces() = %q, want %q", got, want)
	}
	if got := mustCall(t, r, "also.good/hi"); got != "also" {
		t.Errorf("also.good/hi = %v", got)
	}

	byPath := map[string]Failure{}
	for _, f := range r.Failures() {
		byPath[f.Path] = f
	}
	wantLoad := []struct {
		path, name, errPath string
		line                int
		msg                 string
	}{
		{"syntax.lua", "syntax", "syntax.lua", 2, "near 'return'"},
		{"app/runtime.lua", "app.runtime", "app/runtime.lua", 2, "cannot start"},
		{"needs.lua", "needs", "needs.lua", 1, "module 'missing.mod' not found"},
		{"badmod.lua", "badmod", "badmod.lua", 1, "bad"},
		{"options.lua", "options", "options.lua", 1, "pool_size"},
		{"modfails.lua", "modfails", "_lib/rt.lua", 2, "module fails"}, // the module's file and line
	}
	for _, w := range wantLoad {
		f, ok := byPath[w.path]
		if !ok {
			t.Errorf("%s: not in Failures()", w.path)
			continue
		}
		var le *engine.LoadError
		if f.Name != w.name || !errors.As(f.Err, &le) || !strings.HasSuffix(le.Path, w.errPath) || le.Line != w.line || !strings.Contains(le.Msg, w.msg) {
			t.Errorf("%s: failure %+v (%#v), want namespace %s and a LoadError at %s:%d saying %q", w.path, f, f.Err, w.name, w.errPath, w.line, w.msg)
		}
		if !regexp.MustCompile(regexp.QuoteMeta(w.errPath) + `:\d`).MatchString(logs.String()) {
			t.Errorf("%s: not logged with its line:\n%s", w.path, logs)
		}
	}
	if f, ok := byPath["my namespace.lua"]; !ok || f.Name != "" || !errors.Is(f.Err, ErrBadName) {
		t.Errorf("my namespace.lua: failure %+v, want ErrBadName", f)
	}
	if n := len(r.Failures()); n != len(wantLoad)+1 {
		t.Errorf("%d failures, want %d: %v", n, len(wantLoad)+1, r.Failures())
	}
	if !strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("failures not logged at error level:\n%s", logs)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{"a.lua": `function f() end`, "b.lua": `function f() end`})
	if r, err := Open(context.Background(), filepath.Join(dir, "nope"), Config{}); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing folder: %v, %v", r, err)
	}
	if r, err := Open(context.Background(), filepath.Join(dir, "a.lua"), Config{}); err == nil {
		t.Errorf("a file: %v, %v", r, err)
	}
	// An invalid engine configuration fails every file alike: it is an
	// error from Open, not a failure per file.
	r, err := Open(context.Background(), dir, Config{Engine: engine.Config{PoolSize: -1}})
	if err == nil || !strings.Contains(err.Error(), "PoolSize") {
		t.Errorf("an invalid engine config: %v, %v", r, err)
	}
}

func TestOpenEmpty(t *testing.T) {
	r := openFiles(t, map[string]string{"README.md": "nothing to serve"}, Config{})
	if n := r.Namespaces(); len(n) != 0 || len(r.Functions("")) != 0 {
		t.Errorf("Namespaces() = %q", n)
	}
	if slices.Contains(r.Namespaces(), "README") {
		t.Error("README served")
	}
}

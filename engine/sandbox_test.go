package engine

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/slacker-lua/slacker-lua/internal/testutil"
)

// evalLua is a namespace whose function eval runs Lua source and returns
// what it returns.
const evalLua = `
return { eval = function(src) return assert(loadstring(src))() end }
`

// evalTest is a case run through evalLua: the results, or a Lua error
// containing msg.
type evalTest struct {
	src  string
	want any
	msg  string
}

func runEval(t *testing.T, ns *Namespace, tests []evalTest) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			got, err := call(t, ns, "eval", tt.src)
			if tt.msg != "" {
				if le := luaError(t, err); !strings.Contains(le.Message, tt.msg) {
					t.Fatalf("error %q, want %q", le.Message, tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestSandboxLibraries(t *testing.T) {
	ns := load(t, evalLua, Config{})
	var tests []evalTest
	for _, name := range []string{
		"io", "debug", "package", "dofile", "loadfile", "module", "_printregs", "channel",
		"os.execute", "os.exit", "os.remove", "os.rename", "os.getenv", "os.setenv", "os.tmpname", "os.setlocale",
	} {
		tests = append(tests, evalTest{src: "return type(" + name + ")", want: "nil"})
	}
	for _, name := range []string{
		"os.time", "os.clock", "os.date", "os.difftime", "load", "loadstring", "pcall", "require", "print",
		"coroutine.wrap", "string.rep", "table.concat", "math.floor", "setmetatable", "collectgarbage",
	} {
		tests = append(tests, evalTest{src: "return type(" + name + ")", want: "function"})
	}
	tests = append(tests,
		evalTest{src: `return collectgarbage("count")`, want: int64(0)},
		evalTest{src: `return os.date("%Y", 0)`, want: "1970"},
		evalTest{src: `return loadstring("return 1 + 1")()`, want: int64(2)},
		evalTest{src: `return load("return 'from a string'")()`, want: "from a string"},
		evalTest{src: `local parts = {"return ", "4", "2"} local i = 0
			return load(function() i = i + 1 return parts[i] end)()`, want: int64(42)},
		evalTest{src: `return load(function() return 1 end)`, want: []any{nil, "reader function must return a string"}},
		evalTest{src: `return (select(2, loadstring("x = = 1")) ~= nil)`, want: true}, // a syntax error is a message
		evalTest{src: `return math.random(3, 3), math.random(1)`, want: []any{int64(3), int64(1)}},
		evalTest{src: `return math.random(0)`, msg: "interval is empty"},
		evalTest{src: `return math.random(5, 4)`, msg: "interval is empty"},
		evalTest{src: `os.exit(1)`, msg: "attempt to call"},
		evalTest{src: `return io.open("/etc/passwd")`, msg: "attempt to index"},
	)
	runEval(t, ns, tests)
}

func TestUnsafeLibs(t *testing.T) {
	ns := load(t, evalLua, Config{UnsafeLibs: true})
	var tests []evalTest
	for _, name := range []string{"io.open", "os.getenv", "os.execute", "debug.getinfo", "dofile", "loadfile", "package.loaded"} {
		want := "function"
		if name == "package.loaded" {
			want = "table"
		}
		tests = append(tests, evalTest{src: "return type(" + name + ")", want: want})
	}
	tests = append(tests, evalTest{src: `return require == package.loaded._G.require`, want: true})
	runEval(t, ns, tests)
}

func TestStringLimits(t *testing.T) {
	ns := load(t, evalLua, Config{MaxStringSize: 1000})
	runEval(t, ns, []evalTest{
		// string.rep
		{src: `return ("ab"):rep(3)`, want: "ababab"},
		{src: `return ("x"):rep(3, ", ")`, want: "x, x, x"},
		{src: `return ("x"):rep(0), ("x"):rep(-1), (""):rep(1e18)`, want: []any{"", "", ""}},
		{src: `return ("x"):rep(0/0), ("x"):rep(0/0, ",")`, want: []any{"", ""}}, // NaN repeats nothing
		{src: `return #("x"):rep(1000)`, want: int64(1000)},
		{src: `return ("x"):rep(1001)`, msg: "string too large"},
		{src: `return ("x"):rep(1e18)`, msg: "string too large"},
		{src: `return ("x"):rep(400, "--")`, msg: "string too large"},
		{src: `return ("x"):rep(2^63)`, msg: "string too large"},
		// string.format
		{src: `return string.format("%5d|%-3s|%.2f|%x|%%|%c", 42, "a", 3.14159, 255, 65)`, want: "   42|a  |3.14|ff|%|A"},
		{src: `return string.format("%q", 'a"b')`, want: `"a\"b"`},
		{src: `return string.format("%100d", 1)`, msg: "invalid format (width or precision too long)"},
		{src: `return string.format("%.100f", 1)`, msg: "invalid format (width or precision too long)"},
		{src: `return string.format("%v", 1)`, msg: "invalid option '%v' to 'format'"},
		{src: `return string.format("%5", 1)`, msg: "invalid option"},
		{src: `return string.format("%s%s", ("x"):rep(600), ("x"):rep(600))`, msg: "string too large"},
		{src: `return string.format(("%99d"):rep(20), 1)`, msg: "string too large"},
		// table.concat
		{src: `return table.concat({1, "a", 2.5}, "-")`, want: "1-a-2.5"},
		{src: `return table.concat({"a", "b", "c"}, ",", 2, 3)`, want: "b,c"},
		{src: `return table.concat({}, ","), table.concat({"a"}, ",", 3, 2)`, want: []any{"", ""}},
		{src: `return table.concat({"a", {}, "c"})`, msg: "invalid value (at index 2) in table for 'concat'"},
		{src: `local s = ("x"):rep(600) return table.concat({s, s})`, msg: "string too large"},
		{src: `return table.concat({}, ",", 1, 1e9)`, msg: "invalid value (at index 1)"},
		// load's reader
		{src: `return load(function() return ("x"):rep(600) end)`, want: []any{nil, "source too large: more than 1000 bytes"}},
		// the .. operator
		{src: `local s = ("x"):rep(500) return #(s .. s)`, want: int64(1000)},
		{src: `local s = ("x"):rep(600) return #(s .. s)`, msg: "string too large"},
		{src: `local s = ("x"):rep(333) return #(s .. 1 .. s .. s)`, want: int64(1000)},
		{src: `local s = ("x"):rep(333) return #(s .. 10 .. s .. s)`, msg: "string too large"},
		{src: `local s = "x" for i = 1, 20 do s = s .. s end`, msg: "string too large"},
		{src: `local s = ("x"):rep(600) local ok, err = pcall(function() return s .. s end) return ok, #s`, want: []any{false, int64(600)}},
	})
}

func TestGsub(t *testing.T) {
	ns := load(t, evalLua, Config{MaxStringSize: 1000})
	runEval(t, ns, []evalTest{
		{src: `return ("hello world"):gsub("o", "0")`, want: []any{"hell0 w0rld", int64(2)}},
		{src: `return ("hello"):gsub("", "-")`, want: []any{"-h-e-l-l-o-", int64(6)}},
		{src: `return ("abc"):gsub("x*", "-")`, want: []any{"-a-b-c-", int64(4)}},
		{src: `return ("abc"):gsub("%w", "%0%0")`, want: []any{"aabbcc", int64(3)}},
		{src: `return ("hello world"):gsub("(%w+) (%w+)", "%2 %1")`, want: []any{"world hello", int64(1)}},
		{src: `return ("abc"):gsub("b", "%%")`, want: []any{"a%c", int64(1)}},
		{src: `return ("abc"):gsub("b", "%1")`, want: []any{"abc", int64(1)}},
		{src: `return ("abc"):gsub("b", "%x")`, want: []any{"axc", int64(1)}},
		{src: `return ("hello"):gsub("()l", "%1")`, want: []any{"he34o", int64(2)}},
		{src: `return ("abc abc abc"):gsub("abc", "x", 2)`, want: []any{"x x abc", int64(2)}},
		{src: `return ("abc"):gsub("b", "x", 0)`, want: []any{"abc", int64(0)}},
		{src: `return ("aaa"):gsub("^a", "x")`, want: []any{"xaa", int64(1)}},
		{src: `return ("aaa"):gsub("^b", "x")`, want: []any{"aaa", int64(0)}},
		{src: `return ("x"):gsub("x", 5)`, want: []any{"5", int64(1)}},
		{src: `return ("abc"):gsub("%w", {a = "1", b = false, c = 3})`, want: []any{"1b3", int64(3)}},
		{src: `return ("a=1, b=2"):gsub("(%w)=(%w)", {a = "A"})`, want: []any{"A, b=2", int64(2)}},
		{src: `return ("abc"):gsub("%w", string.upper)`, want: []any{"ABC", int64(3)}},
		{src: `return ("abc"):gsub("%w", function(c) if c == "b" then return nil end return 1 end)`, want: []any{"1b1", int64(3)}},
		{src: `return ("k=v"):gsub("(%w)=(%w)", function(k, v) return v .. "=" .. k end)`, want: []any{"v=k", int64(1)}},
		{src: `return (("x"):rep(300)):gsub("x", "y")`, want: []any{strings.Repeat("y", 300), int64(300)}},
		{src: `return ("abc"):gsub("(b)", "%2")`, msg: "invalid capture index"},
		{src: `return ("abc"):gsub("b", "%")`, msg: "invalid use of '%' in replacement string"},
		{src: `return ("abc"):gsub("b", {b = {}})`, msg: "invalid replacement value (a table)"},
		{src: `return ("abc"):gsub("b", function() return true end)`, msg: "invalid replacement value (a boolean)"},
		{src: `return ("abc"):gsub("b")`, msg: "bad argument #3"},
		{src: `return ("abc"):gsub("(", "")`, msg: "unfinished capture"},
		{src: `return ((("x"):rep(500)):gsub("x", "yy"))`, want: strings.Repeat("y", 1000)},
		{src: `return (("x"):rep(500)):gsub("x", "yyy")`, msg: "string too large"},
		{src: `return (("x"):rep(500)):gsub("x", "%0%0%0")`, msg: "string too large"},
		{src: `return (("x"):rep(500)):gsub("x", function() return "yyy" end)`, msg: "string too large"},
	})
}

func TestRequire(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{
		"lib/util/text.lua": `
runs = (runs or 0) + 1
local name = ...
return { name = name, upper = function(s) return s:upper() end }`,
		"lib/flag.lua":   `flagged = true`,
		"lib/broken.lua": "local x = 1\nerror('module failed')\n",
		"lib/loop_a.lua": `return require("loop_b")`,
		"lib/loop_b.lua": `return require("loop_a")`,
		"lib/late.lua":   `return "late"`,
		"secret.lua":     `return "secret"`,
	})
	lib := filepath.Join(dir, "lib")
	ns := load(t, `
local text = require("util.text")
local again = require("util.text")
local M = {}
function M.info() return text.name, text.upper("abc"), text == again, runs, require("flag"), flagged end
function M.req(name) return require(name) end
return M
`, Config{LibPath: lib, PoolSize: 1})
	if got := mustCall(t, ns, "info"); !reflect.DeepEqual(got, []any{"util.text", "ABC", true, int64(1), true, true}) {
		t.Fatalf("info = %#v", got)
	}
	if got, want := requiredPaths(ns), []string{filepath.Join(lib, "flag.lua"), filepath.Join(lib, "util", "text.lua")}; !reflect.DeepEqual(got, want) {
		t.Fatalf("requires %v, want %v", got, want)
	}
	text, err := os.ReadFile(filepath.Join(lib, "util", "text.lua"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ns.Requires()[1].Hash, Hash(text); got != want {
		t.Fatalf("util/text.lua's hash %s, want %s", got, want)
	}
	for _, tt := range []struct{ name, msg string }{
		{"../secret", "invalid module name"},
		{"a/b", "invalid module name"},
		{`a\b`, "invalid module name"},
		{"/etc/passwd", "invalid module name"},
		{"a..b", "invalid module name"},
		{".a", "invalid module name"},
		{"a.", "invalid module name"},
		{"c:x", "invalid module name"},
		{"", "invalid module name"},
		{"missing", "module 'missing' not found in lib path (tried lib/missing.lua)"},
		{"broken", "broken.lua:2: module failed"},
		{"broken", "broken.lua:2: module failed"}, // tried again, not cached
		{"loop_a", "loop or previous error loading module 'loop_a'"},
	} {
		_, err := call(t, ns, "req", tt.name)
		if le := luaError(t, err); !strings.Contains(le.Message, tt.msg) {
			t.Errorf("require(%q): %q, want %q", tt.name, le.Message, tt.msg)
		}
	}
	// A module required by a call counts too.
	if got := mustCall(t, ns, "req", "late"); got != "late" {
		t.Fatalf("late = %#v", got)
	}
	// Files that failed to run were required too: fixing them matters.
	if got := requiredPaths(ns); len(got) != 6 || !strings.HasSuffix(got[2], "late.lua") || !strings.HasSuffix(got[0], "broken.lua") {
		t.Fatalf("requires after a call: %v", got)
	}

	// Without a lib path, require finds nothing.
	ns = load(t, `return { req = function(n) return require(n) end }`, Config{})
	_, err = call(t, ns, "req", "util.text")
	if le := luaError(t, err); !strings.Contains(le.Message, "no lib path configured") {
		t.Fatalf("require without a lib path: %q", le.Message)
	}
}

func TestPrintAndLogGoToLogger(t *testing.T) {
	logger, buf := testutil.NewLogger()
	ns := load(t, `
print("loading", 1, nil)
return {
  f = function()
    print("a", 1, true)
    slacker.log.info("hello", "k", 1, "t", {1, 2}, "fn", print, "odd")
    slacker.log.warn("careful")
    slacker.log.error("failed", "why", "because")
    slacker.log.debug("details", "m", {x = 1})
  end,
}
`, Config{Logger: logger})
	mustCall(t, ns, "f")
	out := buf.String()
	for _, want := range []string{
		`"level":"INFO","msg":"loading\t1\tnil","namespace":"ns"`,
		`"level":"INFO","msg":"a\t1\ttrue","namespace":"ns"`,
		`"level":"INFO","msg":"hello","namespace":"ns","k":1,"t":[1,2],"fn":"function: 0x`,
		`"odd":null`,
		`"level":"WARN","msg":"careful","namespace":"ns"`,
		`"level":"ERROR","msg":"failed","namespace":"ns","why":"because"`,
		`"level":"DEBUG","msg":"details","namespace":"ns","m":{"x":1}`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	// No logger: nothing breaks.
	ns = load(t, `return { f = function() print("x") slacker.log.info("y") return 1 end }`, Config{})
	mustCall(t, ns, "f")
}

func TestModulePathIsUnderLibPath(t *testing.T) {
	for _, name := range []string{"a", "a.b", "a.b.c", "a-b.c_d"} {
		p, err := modulePath("/lib", name)
		if err != nil || !strings.HasPrefix(p, filepath.Clean("/lib")+string(filepath.Separator)) {
			t.Errorf("%q: %q, %v", name, p, err)
		}
	}
	if _, err := modulePath("/lib", "a/../b"); err == nil {
		t.Error("a/../b accepted")
	}
}

func requiredPaths(ns *Namespace) []string {
	var out []string
	for _, m := range ns.Requires() {
		out = append(out, m.Path)
	}
	return out
}

package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"strings"
	"testing"

	"github.com/slacker-lua/slacker-lua/internal/testutil"
)

func TestCompile(t *testing.T) {
	src := "return {}\n"
	s, err := Compile("a.b", "a/b.lua", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(src))
	if s.Name != "a.b" || s.Path != "a/b.lua" || s.Hash != hex.EncodeToString(sum[:]) {
		t.Fatalf("script = %+v", s)
	}
}

func TestSyntaxErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		line int
		msg  string // part of the message
	}{
		{"bad token", "local x = 1\nx = = 2\n", 2, "near '='"},
		{"unfinished function", "local M = {}\nfunction M.f(\n", 2, "syntax error"},
		{"unterminated string", "local M = {}\nlocal s = 'abc\n", 2, "unterminated string"},
		{"missing end", "function f()\n  return 1\n", 2, "near <eof>"},
		{"goto without label", "local a = 1\ngoto nowhere\n", 3, "no visible label"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile("bad", "bad.lua", []byte(tt.src))
			le := loadError(t, err)
			if le.Path != "bad.lua" || le.Line != tt.line || !strings.Contains(le.Msg, tt.msg) {
				t.Fatalf("got %+v, want bad.lua:%d: ...%s...", le, tt.line, tt.msg)
			}
			if want := "bad.lua:" + itoa(tt.line) + ": " + le.Msg; le.Error() != want {
				t.Fatalf("Error() = %q, want %q", le.Error(), want)
			}
		})
	}
	if got := (&LoadError{Path: "p.lua", Msg: "m"}).Error(); got != "p.lua: m" {
		t.Fatalf("Error() without a line = %q", got)
	}
}

const exportsLua = `local M = {}

--- Adds two numbers.
--- Both must be numbers.
function M.add(a, b)
  return a + b
end

--- Returns n random integers.
M["rand-ints"] = function(n)
  return {}
end

-- An ordinary comment is not a doc.
function M.plain(x) end

---Doc without a space.
local function g(x, ...)
  return select("#", ...)
end
M.g = g

--- A method.
function M:method(z) return self end

function M._private() end
local function hidden() end

M.upper = string.upper
M.notfn = 42

return M
`

func TestExportsFromReturnedTable(t *testing.T) {
	ns := load(t, exportsLua, Config{})
	want := []FuncInfo{
		{Name: "add", Doc: "Adds two numbers.\nBoth must be numbers.", Params: []string{"a", "b"}, Line: 5},
		{Name: "g", Doc: "Doc without a space.", Params: []string{"x"}, Variadic: true, Line: 18},
		{Name: "method", Doc: "A method.", Params: []string{"self", "z"}, Line: 24},
		{Name: "plain", Doc: "", Params: []string{"x"}, Line: 15},
		{Name: "rand-ints", Doc: "Returns n random integers.", Params: []string{"n"}, Line: 10},
		{Name: "upper", Params: []string{}},
	}
	if got := ns.Functions(); !reflect.DeepEqual(got, want) {
		t.Fatalf("functions:\n got %+v\nwant %+v", got, want)
	}
	if got := mustCall(t, ns, "rand-ints", int64(3)); !reflect.DeepEqual(got, []any{}) {
		t.Errorf("rand-ints = %#v", got)
	}
	if got := mustCall(t, ns, "g", int64(1), int64(2), int64(3)); got != int64(2) {
		t.Errorf("g = %#v", got)
	}
	if got := mustCall(t, ns, "upper", "abc"); got != "ABC" {
		t.Errorf("upper = %#v", got)
	}
	// Functions returns a copy.
	ns.Functions()[0].Params[0] = "changed"
	if ns.Functions()[0].Params[0] != "a" {
		t.Error("Functions shares its slices")
	}
	for _, name := range []string{"_private", "hidden", "notfn", "nope", ""} {
		if _, err := call(t, ns, name); !isNotFound(err) {
			t.Errorf("%q: got %v, want ErrNotFound", name, err)
		}
	}
}

func TestExportsFromTableConstructor(t *testing.T) {
	ns := load(t, `
local function helper() end
return {
  --- Squares a.
  square = function(a) return a * a end,
  ["kebab-case"] = function(x, y) return x .. y end,
  _options = { timeout = 1 },
  _hidden = function() end,
}
`, Config{})
	want := []FuncInfo{
		{Name: "kebab-case", Params: []string{"x", "y"}, Line: 6},
		{Name: "square", Doc: "Squares a.", Params: []string{"a"}, Line: 5},
	}
	if got := ns.Functions(); !reflect.DeepEqual(got, want) {
		t.Fatalf("functions:\n got %+v\nwant %+v", got, want)
	}
	if got := mustCall(t, ns, "square", int64(7)); got != int64(49) {
		t.Errorf("square = %#v", got)
	}
	if ns.Options().Timeout.Seconds() != 1 {
		t.Errorf("options = %+v", ns.Options())
	}
}

func TestExportsFromGlobals(t *testing.T) {
	ns := load(t, `
--- Increments.
function inc(n) return n + 1 end
function _private() end
local function hidden() end
count = 0                 -- not a function
_G["with-dash"] = function() return "dash" end
function print() end      -- replaces a global of the sandbox: not exported
`, Config{})
	var names []string
	for _, f := range ns.Functions() {
		names = append(names, f.Name)
	}
	if want := []string{"inc", "with-dash"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("functions %v, want %v", names, want)
	}
	if f := ns.Functions()[0]; f.Doc != "Increments." || f.Line != 3 {
		t.Errorf("inc = %+v", f)
	}
	if got := mustCall(t, ns, "with-dash"); got != "dash" {
		t.Errorf("with-dash = %#v", got)
	}
	// A file returning something other than a table exports its globals.
	ns = load(t, "function f() return 1 end\nreturn 42\n", Config{})
	if got := mustCall(t, ns, "f"); got != int64(1) {
		t.Errorf("f = %#v", got)
	}
}

func TestDocFromModuleFunction(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{"lib/util.lua": `
local U = {}
--- Doubles x.
function U.double(x) return 2 * x end
return U
`})
	ns := load(t, `return { double = require("util").double }`, Config{LibPath: dir + "/lib"})
	want := []FuncInfo{{Name: "double", Doc: "Doubles x.", Params: []string{"x"}, Line: 4}}
	if got := ns.Functions(); !reflect.DeepEqual(got, want) {
		t.Fatalf("functions %+v, want %+v", got, want)
	}
}

package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

func TestPatternFunctions(t *testing.T) {
	ns := load(t, evalLua, Config{})
	runEval(t, ns, []evalTest{
		{src: `return string.find("hello world", "o w")`, want: []any{int64(5), int64(7)}},
		{src: `return string.find("hello", "l+")`, want: []any{int64(3), int64(4)}},
		{src: `return string.find("a.b", ".", 1, true)`, want: []any{int64(2), int64(2)}},
		{src: `return string.find("abc", "b", 10, true)`, want: nil},
		{src: `return string.find("abc", "", 10)`, want: []any{int64(4), int64(3)}},
		{src: `return string.find("abc", "c", -1)`, want: []any{int64(3), int64(3)}},
		{src: `return string.find("key=val", "(%w+)=(%w+)")`, want: []any{int64(1), int64(7), "key", "val"}},
		{src: `return string.find("hello", "()ll()")`, want: []any{int64(3), int64(4), int64(3), int64(5)}},
		{src: `return string.find("x", "y")`, want: nil},
		{src: `return string.match("  trim me  ", "^%s*(.-)%s*$")`, want: "trim me"},
		{src: `return string.match("hello", "xyz")`, want: nil},
		{src: `return select("#", string.match("hello", "xyz"))`, want: int64(1)},
		{src: `return string.match("f(a(b)c)d", "%b()")`, want: "(a(b)c)"},
		{src: `return string.match("THE (quick) fox", "%f[%a]%a+", 2)`, want: "quick"},
		{src: `return ("say 'hi'"):match("(['\"])(.-)%1")`, want: []any{"'", "hi"}},
		{src: `local t = {} for k, v in string.gmatch("a=1, b=2", "(%w+)=(%w+)") do t[#t+1] = k .. v end return table.concat(t, ",")`, want: "a1,b2"},
		{src: `local t = {} for w in ("one two"):gmatch("%a+") do t[#t+1] = w end return t`, want: []any{"one", "two"}},
		{src: `local n = 0 for w in ("abc"):gmatch("x*") do n = n + 1 end return n`, want: int64(4)},
		{src: `local t = {} for w in ("a^b"):gmatch("^b") do t[#t+1] = w end return t`, want: []any{"^b"}},
		{src: `local t = {} for p in ("aXbX"):gfind("()X") do t[#t+1] = p end return t`, want: []any{int64(2), int64(4)}},
		{src: `return ("THE (quick) fox"):gsub("%f[%a]%a+", "X")`, want: []any{"X (X) X", int64(3)}},
		{src: `return ("abc"):gsub("%w*", "-")`, want: []any{"--", int64(2)}},
		{src: `return ("hello world"):gsub("(o)", "[%1]", 1)`, want: []any{"hell[o] world", int64(1)}},
		{src: `return string.find("a", "%")`, msg: "malformed pattern (ends with '%')"},
		{src: `return string.match("a", "[a")`, msg: "malformed pattern (missing ']')"},
		{src: `return string.gmatch("a", "%f")`, msg: "missing '[' after '%f' in pattern"},
		{src: `return string.gsub("a", "(", "")`, msg: "unfinished capture"},
		{src: `return string.find("a", ")")`, want: nil}, // no special characters: plain
		{src: `return string.match("a", ")")`, msg: "invalid pattern capture"},
		{src: `return string.find("a", "%1")`, msg: "invalid capture index"},
		{src: `return string.find(("a"):rep(300), ("a?"):rep(300))`, msg: "pattern too complex"},
		{src: `return #string.match(("a"):rep(200000) .. "b", ".-b")`, want: int64(200001)},
	})
}

func TestBoundedBuiltins(t *testing.T) {
	ns := load(t, evalLua, Config{MaxStringSize: 1000})
	runEval(t, ns, []evalTest{
		{src: `local t = {5, 2, 8, 1, 9, 3} table.sort(t) return t`, want: []any{int64(1), int64(2), int64(3), int64(5), int64(8), int64(9)}},
		{src: `local t = {5, 2, 8, 1} table.sort(t, function(a, b) return a > b end) return t`, want: []any{int64(8), int64(5), int64(2), int64(1)}},
		{src: `local t = {"b", "a", "c"} table.sort(t, nil) return t`, want: []any{"a", "b", "c"}},
		{src: `local t = {} table.sort(t) return #t`, want: int64(0)},
		{src: `local t = {1, 2, 3, 4, 5} table.sort(t, function() return true end)`, msg: "invalid order function for sorting"},
		{src: `local t = {1, "x", 3} table.sort(t)`, msg: "attempt to compare"},
		{src: `table.sort({3, 2, 1}, 5)`, msg: "bad argument #2"},
		{src: `return table.concat({1, 2, "x"}, "-")`, want: "1-2-x"},
		{src: `return table.concat({1, {}, 3})`, msg: "invalid value (at index 2) in table for 'concat'"},
		{src: `return os.date("!%Y-%m-%d", 86400)`, want: "1970-01-02"},
		{src: `return os.date(("%c"):rep(200))`, msg: "date format too long (400 bytes, at most 256)"},
		{src: `return #os.date(("%c"):rep(128)) <= 4096`, want: true},
		{src: `return os.time{year = 2000, month = 1, day = 1, hour = 0} - os.time{year = 1999, month = 12, day = 31, hour = 0}`, want: int64(86400)},
		{src: `return os.time{year = 2000, month = 13, day = 1} == os.time{year = 2001, month = 1, day = 1}`, want: true},
		{src: `return os.time{year = 2000, month = 1}`, msg: "field 'day' missing in date table"},
		{src: `return os.time{year = 1e300, month = 1, day = 1}`, msg: "field 'year' is out-of-bound"},
		{src: `return os.time{year = 0/0, month = 1, day = 1}`, msg: "field 'year' is out-of-bound"},
		{src: `return os.time{year = "x", month = 1, day = 1}`, msg: "field 'year' is not a number"},
		{src: `return type(os.time())`, want: "number"},
		{src: `local s = ("a"):rep(600) return #(s .. s):upper()`, msg: "string too large"},
		{src: `return ("abc"):upper(), ("ABC"):lower(), ("abc"):reverse()`, want: []any{"ABC", "abc", "cba"}},
		{src: `return unpack({}, 1, 1e8)`, msg: "registry overflow"},
	})
}

// TestSortOrders sorts many arrays and checks each is sorted and a
// permutation of the input.
func TestSortOrders(t *testing.T) {
	ns := load(t, `
return { check = function(n, seed)
	math.randomseed(seed)
	local t, count = {}, {}
	for i = 1, n do local x = math.random(1, 10) t[i] = x count[x] = (count[x] or 0) + 1 end
	table.sort(t, function(a, b) return a < b end)
	for i = 1, n do count[t[i]] = count[t[i]] - 1 if i > 1 and t[i-1] > t[i] then return false end end
	for _, c in pairs(count) do if c ~= 0 then return false end end
	return true
end }`, Config{})
	for n := range 40 {
		for seed := range 5 {
			if got := mustCall(t, ns, "check", n, seed); got != true {
				t.Fatalf("n %d seed %d: not sorted", n, seed)
			}
		}
	}
}

// slowBuiltins are calls whose cost a caller controls, each far longer than
// any deadline the tests give.
var slowBuiltins = map[string]string{
	"find":   `string.find(("a"):rep(2000), "(.-)(.-)(.-)b")`,
	"match":  `string.match(("a"):rep(2000), "(.*)(.*)(.*)b")`,
	"gmatch": `for x in string.gmatch(("a"):rep(2000), "(.-)(.-)(.-)b") do end`,
	"gsub":   `string.gsub(("a"):rep(2000), "(.-)(.-)(.-)b", "")`,
	"sort": `local t = {} for i = 1, 200000 do t[i] = (i * 7919) % 200003 end
		table.sort(t, function(a, b) for _ = 1, 50 do end return a < b end)`,
	"sort-builtin": `local t = {} for i = 1, 200000 do t[i] = tostring((i * 7919) % 200003) end
		for _ = 1, 1000 do table.sort(t, nil) end`,
}

// TestBuiltinsStopAtDeadline: each slow built-in ends with the deadline's
// error soon after it, and the VM serves the next call.
func TestBuiltinsStopAtDeadline(t *testing.T) {
	var src strings.Builder
	src.WriteString("local M = {}\nfunction M.ok() return 1 end\n")
	for name, body := range slowBuiltins {
		fmt.Fprintf(&src, "M[%q] = function() %s end\n", name, body)
	}
	src.WriteString("return M\n")
	ns := load(t, src.String(), Config{PoolSize: 1})
	const deadline = 200 * time.Millisecond
	for name := range slowBuiltins {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			start := time.Now()
			_, err := ns.Call(ctx, name, nil)
			over := time.Since(start) - deadline
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err %v, want the deadline's", err)
			}
			t.Logf("returned %v after the deadline", over)
			if over > time.Second {
				t.Fatalf("returned %v after the deadline, want within 1s", over)
			}
			if got := mustCall(t, ns, "ok"); got != int64(1) {
				t.Fatalf("next call: %v", got)
			}
		})
	}
}

// Benchmarks of the pattern functions against gopher-lua's own, on common
// patterns: each op is 1000 calls from Lua.
var benchPatterns = []struct{ name, fn, s, p, repl string }{
	{"find-digits", "find", "order 12345 shipped", "%d+", ""},
	{"find-trim", "find", "   hello world   ", "^%s*(.-)%s*$", ""},
	{"find-kv", "find", "some text key=value more", "(%w+)=(%w+)", ""},
	{"find-email", "find", "mail bob_smith@example.com today", "[%w_.]+@[%w_]+%.com", ""},
	{"find-literal", "find", strings.Repeat("lorem ipsum ", 20) + "needle", "needle", ""},
	{"gsub-space", "gsub", "a  lot   of    space     here", "%s+", " "},
	{"gsub-words", "gsub", "the quick brown fox jumps", "(%w+)", "<%1>"},
	{"gsub-vars", "gsub", "hello $name, you owe $amount", "%$(%w+)", "X"},
}

const benchLua = `
local find, gsub = string.find, string.gsub
function run(fn, s, p, repl)
	if fn == "find" then for _ = 1, 1000 do find(s, p) end
	else for _ = 1, 1000 do gsub(s, p, repl) end end
end
`

func BenchmarkPatterns(b *testing.B) {
	ns := load(b, benchLua+"return { run = run }", Config{PoolSize: 1})
	L := lua.NewState()
	defer L.Close()
	if err := L.DoString(benchLua); err != nil {
		b.Fatal(err)
	}
	for _, c := range benchPatterns {
		b.Run(c.name+"/slacker", func(b *testing.B) {
			for b.Loop() {
				if _, err := ns.Call(context.Background(), "run", []any{c.fn, c.s, c.p, c.repl}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/gopher-lua", func(b *testing.B) {
			for b.Loop() {
				err := L.CallByParam(lua.P{Fn: L.GetGlobal("run"), Protect: true},
					lua.LString(c.fn), lua.LString(c.s), lua.LString(c.p), lua.LString(c.repl))
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestSortRandomOrder: a comparison that is no order either sorts or
// raises Lua's error; it never takes the sort out of the table.
func TestSortRandomOrder(t *testing.T) {
	ns := load(t, `
return { sort = function(n, seed)
	math.randomseed(seed)
	local t = {}
	for i = 1, n do t[i] = i end
	local ok, err = pcall(table.sort, t, function() return math.random() < 0.5 end)
	if ok then return #t end
	return err
end }`, Config{})
	for n := range 60 {
		for seed := range 5 {
			got, err := call(t, ns, "sort", n, seed)
			if err != nil {
				t.Fatalf("n %d seed %d: %v", n, seed, err)
			}
			if s, ok := got.(string); ok && !strings.Contains(s, "invalid order function for sorting") {
				t.Fatalf("n %d seed %d: %q", n, seed, s)
			}
			if i, ok := got.(int64); ok && i != int64(n) {
				t.Fatalf("n %d seed %d: %d elements", n, seed, i)
			}
		}
	}
}

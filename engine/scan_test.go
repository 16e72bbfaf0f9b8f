package engine

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// deep is the shapes that once overflowed the Go stack in the parser or
// the compiler, n levels deep.
func deep(n int) map[string]string {
	return map[string]string{
		"braces":  "return " + strings.Repeat("{", n) + strings.Repeat("}", n),
		"parens":  "return " + strings.Repeat("(", n) + "1" + strings.Repeat(")", n),
		"plus":    "return " + strings.Repeat("1+", n) + "1",
		"concat":  "return " + strings.Repeat("'a'..", n) + "'a'",
		"unary":   "return " + strings.Repeat("- ", n) + "1",
		"not":     "return " + strings.Repeat("not ", n) + "true",
		"attr":    "return a" + strings.Repeat(".b", n),
		"method":  "return a" + strings.Repeat(":b()", n),
		"calls":   "return f" + strings.Repeat("()", n),
		"index":   "return t" + strings.Repeat("[1]", n),
		"strcall": "return f" + strings.Repeat(`"s"`, n),
		"funcs":   strings.Repeat("function f() ", n) + strings.Repeat("end ", n),
		"ifs":     strings.Repeat("if x then ", n) + strings.Repeat("end ", n),
		"dos":     strings.Repeat("do ", n) + strings.Repeat("end ", n),
		"repeats": strings.Repeat("repeat ", n) + strings.Repeat("until x ", n),
		"mixed":   "return " + strings.Repeat("{a=(1+", n/2) + "1" + strings.Repeat(")}", n/2),
	}
}

func TestScanRefusesDeepSource(t *testing.T) {
	for name, src := range deep(2 << 20) {
		t.Run(name, func(t *testing.T) {
			_, err := Compile("ns", "ns.lua", []byte(src))
			le := loadError(t, err)
			if le.Line != 1 || !strings.Contains(le.Msg, "deeper than 1000 levels") {
				t.Fatalf("got %v, want ns.lua:1: nested or chained deeper than 1000 levels", err)
			}
		})
	}
}

func TestScanPassesWhatLuaCompiles(t *testing.T) {
	// Lua 5.1 compiles 199 levels of each shape; so must the engine (a
	// syntax error of gopher-lua's own is fine: the scan let it through).
	for name, src := range deep(199) {
		t.Run(name, func(t *testing.T) {
			if serr := scanSource([]byte(src), scanLimits{}); serr != nil {
				t.Fatalf("refused at line %d: %s", serr.line, serr.msg)
			}
		})
	}
	// Long chains of statements and of left-associative operators are
	// not nesting.
	long := map[string]string{
		"calls":    strings.Repeat("print(1) ", 20000),
		"assigns":  strings.Repeat("x = x + 1\n", 20000),
		"locals":   strings.Repeat("local a = t.b.c[1]:d() ", 20000),
		"returns":  "local t = {" + strings.Repeat("1, ", 20000) + "}",
		"fields":   "local t = {" + strings.Repeat("a = f(x) + 1; ", 20000) + "}",
		"funcs":    strings.Repeat("function f(a) return a end\n", 20000),
		"comments": strings.Repeat("--[[ ((( ]] -- {{{\n", 20000),
		"strings":  strings.Repeat("x = '((( \\' {{{' .. \"[[\" .. [==[ ]] ((( ]==]\n", 20000),
		"numbers":  strings.Repeat("x = 0x1E+1 - 1e-5 + .5\n", 20000),
	}
	for name, src := range long {
		t.Run(name, func(t *testing.T) {
			if serr := scanSource([]byte(src), scanLimits{}); serr != nil {
				t.Fatalf("refused at line %d: %s", serr.line, serr.msg)
			}
		})
	}
}

func TestScanLines(t *testing.T) {
	src := "-- a comment\nlocal s = [[\n\n]]\nlocal q = 'a\\\nb'\n--[==[\n]==]\nreturn " + strings.Repeat("(", 2000)
	serr := scanSource([]byte(src), scanLimits{})
	if serr == nil || serr.line != 9 {
		t.Fatalf("got %+v, want a refusal at line 9", serr)
	}
}

func TestScanLookups(t *testing.T) {
	var b strings.Builder
	b.WriteString("return {")
	for i := 0; b.Len() < MaxLoadSize-16; i++ {
		fmt.Fprintf(&b, "%d,", i)
	}
	b.WriteString("}")
	src := []byte(b.String())
	if serr := scanSource(src, scanLimits{}); serr != nil {
		t.Fatalf("unbounded: refused: %s", serr.msg)
	}
	serr := scanSource(src, scanLimits{lookups: maxLoadLookups})
	if serr == nil || !strings.Contains(serr.msg, "too many distinct names and literals") {
		t.Fatalf("got %+v, want too many distinct names and literals", serr)
	}
	// The same literal again and again is one constant.
	same := []byte("return {" + strings.Repeat("7, ", 60000) + "}")
	if serr := scanSource(same, scanLimits{lookups: maxLoadLookups}); serr != nil {
		t.Fatalf("repeated literal: refused: %s", serr.msg)
	}
}

func TestLoadBounds(t *testing.T) {
	ns := load(t, evalLua, Config{})
	runEval(t, ns, []evalTest{
		{src: `return load(("{"):rep(100000))`, want: []any{nil, "?:1: nested or chained deeper than 1000 levels"}},
		{src: `return loadstring("return " .. ("1+"):rep(100000) .. "1", "=expr")`, want: []any{nil, "=expr:1: nested or chained deeper than 1000 levels"}},
		{src: `return load(("x"):rep(256 * 1024 + 1))`, want: []any{nil, "source too large: more than 262144 bytes"}},
		{src: `local t = {} for i = 1, 40000 do t[i] = i .. "," end
			return load("return {" .. table.concat(t) .. "}")`, want: []any{nil, "?:1: too many distinct names and literals to compile in time"}},
		{src: `return load("return 1 +")`, want: []any{nil, "?:1: syntax error near <eof>"}},
		{src: `return load(("return " .. ("(1+"):rep(150) .. "1" .. (")"):rep(150)))()`, want: int64(151)},
	})
}

func TestDeepModuleIsALoadError(t *testing.T) {
	dir := t.TempDir()
	lib := filepath.Join(dir, "_lib")
	if err := os.MkdirAll(lib, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(lib, "deep.lua"), []byte("\n\nreturn "+strings.Repeat("{", 1<<20)), 0o644); err != nil {
		t.Fatal(err)
	}
	ns := load(t, `function f() return require("deep") end`, Config{LibPath: lib})
	_, err := call(t, ns, "f")
	le := luaError(t, err)
	if !strings.Contains(le.Message, "_lib/deep.lua:3: nested or chained deeper than 1000 levels") {
		t.Fatalf("got %q", le.Message)
	}
}

// FuzzScan checks that whatever the scan lets through, gopher-lua parses
// and compiles without overflowing the stack, and that the scan is
// indifferent to what follows a refusal.
func FuzzScan(f *testing.F) {
	for _, src := range deep(50) {
		f.Add([]byte(src))
	}
	f.Add([]byte("local s = [==[ ]] ]==] return s .. 'x' --[[ c ]]"))
	f.Add([]byte("return ((((((((1"))
	f.Add([]byte("x = 0x1p4 1e+5 ..."))
	f.Fuzz(func(t *testing.T, src []byte) {
		serr := scanSource(src, scanLimits{lookups: maxLoadLookups})
		if serr != nil {
			if serr.line < 1 || serr.line > bytes.Count(src, []byte{'\n'})+1 {
				t.Fatalf("line %d of a %d-line source", serr.line, bytes.Count(src, []byte{'\n'})+1)
			}
			return
		}
		compile("fuzz", src, scanLimits{lookups: maxLoadLookups}) // must not crash
	})
}

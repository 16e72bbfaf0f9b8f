package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slacker-lua/slacker-lua/internal/testutil"
)

func TestReadOnlyLibraries(t *testing.T) {
	ns := load(t, evalLua, Config{PoolSize: 1})
	runEval(t, ns, []evalTest{
		{src: `string.upper = function() return "changed" end`, msg: "attempt to change the standard library: string.upper"},
		{src: `string.newfn = print`, msg: "attempt to change the standard library: string.newfn"},
		{src: `table.insert = nil`, msg: "attempt to change the standard library: table.insert"},
		{src: `math.pi = 3`, msg: "attempt to change the standard library: math.pi"},
		{src: `os.time = nil`, msg: "attempt to change the standard library: os.time"},
		{src: `coroutine.wrap = nil`, msg: "attempt to change the standard library: coroutine.wrap"},
		{src: `slacker.call = function() end`, msg: "attempt to change the standard library: slacker.call"},
		{src: `slacker.json.encode = nil`, msg: "attempt to change the standard library: slacker.json.encode"},
		{src: `slacker.log.info = nil`, msg: "attempt to change the standard library: slacker.log.info"},
		{src: `rawset(string, "upper", print)`, msg: "attempt to change the standard library with rawset"},
		{src: `setmetatable(string, nil)`, msg: "cannot change a protected metatable"},
		{src: `getmetatable("").__index = {}`, msg: "attempt to index"},
		{src: `setmetatable(_G, { __index = function() return 1 end })`, msg: "cannot change a protected metatable"},
		{src: `return getmetatable(""), getmetatable(string), getmetatable(_G)`, want: []any{false, false, false}},
		// What is left works as before, and globals are the namespace's.
		{src: `return ("abc"):upper(), string.format("%d", 7), #table.concat({"a", "b"}), math.floor(1.5)`, want: []any{"ABC", "7", int64(2), int64(1)}},
		{src: `counter = (counter or 0) + 1 return counter`, want: int64(1)},
		{src: `counter = (counter or 0) + 1 return counter`, want: int64(2)},
		{src: `local t = setmetatable({}, { __index = string }) return t.upper("x")`, want: "X"},
		{src: `return string.upper("still")`, want: "STILL"},
		{src: `local n = 0 for k, f in pairs(string) do n = n + 1 end return n > 10, next(math) ~= nil`, want: []any{true, true}},
	})
}

func TestRequireStaysInTheServedFolder(t *testing.T) {
	outside := testutil.WriteFiles(t, map[string]string{"secret.lua": `return "outside"`})
	dir := testutil.WriteFiles(t, map[string]string{
		"_lib/inside.lua":   `return "inside"`,
		"_lib/real/mod.lua": `return "linked within"`,
	})
	lib := filepath.Join(dir, "_lib")
	testutil.Symlink(t, filepath.Join(outside, "secret.lua"), filepath.Join(lib, "secret.lua"))
	testutil.Symlink(t, filepath.Join(lib, "real", "mod.lua"), filepath.Join(lib, "alias.lua"))
	testutil.Symlink(t, filepath.Join(outside, "missing.lua"), filepath.Join(lib, "dangling.lua"))
	if err := os.Symlink(outside, filepath.Join(lib, "out")); err != nil {
		t.Fatal(err)
	}
	ns := load(t, `function req(name) return require(name) end`, Config{LibPath: lib})
	for _, tc := range []struct{ name, want, msg string }{
		{name: "inside", want: "inside"},
		{name: "alias", want: "linked within"},
		{name: "secret", msg: "_lib/secret.lua links to a file outside the served folder"},
		{name: "out.secret", msg: "_lib/out/secret.lua links to a file outside the served folder"},
		{name: "dangling", msg: "module 'dangling' not found"},
	} {
		got, err := call(t, ns, "req", tc.name)
		if tc.msg != "" {
			if le := luaError(t, err); !strings.Contains(le.Message, tc.msg) || strings.Contains(le.Message, outside) {
				t.Errorf("require %q: %q, want %q without the outside path", tc.name, le.Message, tc.msg)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("require %q = %v, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

package tests

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
)

// engineFile is a namespace an attacker's arguments turn against the
// server: it compiles what it is sent, as REPLs, rules engines and
// template namespaces do, and builds what it is asked to.
const engineFile = `
local M = {}
local mb = ("x"):rep(1024 * 1024)
function M.eval(src)
  local f, err = load(src)
  if not f then error(err, 0) end
  return f()
end
function M.strings(n) local t = {} for i = 1, n do t[i] = mb .. i end return #t end
function M.doubling() local s = "x" while true do s = s .. s end end
function M.nest(n)
  local function down(k) if k == 0 then return 0 end return coroutine.wrap(down)(k - 1) + 1 end
  return down(n)
end
return M
`

// The bounds of these attacks: what a refused call may take, and the
// server's peak memory (about 30 MiB idle).
const (
	refuseWithin = time.Second
	engineRSS    = 160 << 20
)

// remoteMessage fails the test unless err is the server's exception and
// its message contains want.
func remoteMessage(t *testing.T, err error, want string) {
	t.Helper()
	var rerr *client.RemoteError
	if !errors.As(err, &rerr) || !errors.Is(err, client.ErrException) || !strings.Contains(rerr.Message, want) {
		t.Fatalf("err %v, want an exception with %q", err, want)
	}
}

// TestAttackCompile: source that once overflowed the Go stack in the
// compiler and ended the process, and source that took it seconds to
// compile, sent to a namespace that loads its argument, is refused at once.
func TestAttackCompile(t *testing.T) {
	a := startTarget(t, map[string]string{"attack/engine.lua": engineFile})
	c := dial(t, a.addr, client.Config{})
	var literals strings.Builder
	literals.WriteString("return {")
	for i := 0; literals.Len() < 250<<10; i++ {
		fmt.Fprintf(&literals, "%d,", i)
	}
	literals.WriteString("}")
	for _, tc := range []struct{ name, src, want string }{
		{"braces 2MB", strings.Repeat("{", 1<<20) + strings.Repeat("}", 1<<20), "source too large"},
		{"braces", "return " + strings.Repeat("{", 100<<10) + strings.Repeat("}", 100<<10), "nested or chained deeper than 1000 levels"},
		{"plus", "return " + strings.Repeat("1+", 100<<10) + "1", "nested or chained deeper than 1000 levels"},
		{"unary", "return " + strings.Repeat("- ", 100<<10) + "1", "nested or chained deeper than 1000 levels"},
		{"attr", "return a" + strings.Repeat(".b", 100<<10), "nested or chained deeper than 1000 levels"},
		{"calls", "return f" + strings.Repeat("()", 100<<10), "nested or chained deeper than 1000 levels"},
		{"literals", literals.String(), "too many distinct names and literals"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a.probeDuring(t, func() {
				timed(t, refuseWithin, "a refused load", func() {
					_, err := c.Call(context.Background(), "attack.engine/eval", tc.src)
					remoteMessage(t, err, tc.want)
				})
			})
			a.alive(t)
		})
	}
	a.maxRSS(t, engineRSS)
}

// TestAttackDeepFile: a namespace file that would overflow the compiler,
// saved over a served one, fails to load and leaves the old version
// serving.
func TestAttackDeepFile(t *testing.T) {
	a := startTarget(t, map[string]string{"attack/file.lua": "return { v = function() return 1 end }\n"})
	c := dial(t, a.addr, client.Config{})
	path := filepath.Join(a.dir, "attack", "file.lua")
	deepSrc := "local t = 1\nreturn " + strings.Repeat("{", 2<<20) + strings.Repeat("}", 2<<20)
	if err := os.WriteFile(path, []byte(deepSrc), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, func() bool {
		return strings.Contains(a.log(), "file.lua:2: nested or chained deeper than 1000 levels")
	}, "the reload to fail")
	a.alive(t)
	if got, err := client.CallAs[int](context.Background(), c, "attack.file/v"); err != nil || got != 1 {
		t.Fatalf("attack.file/v = %v, %v; want the old version's 1", got, err)
	}
	a.probe(t)
	a.maxRSS(t, engineRSS)
}

// TestAttackMemory: calls that build memory without end, the public
// example's rand-ints among them, are stopped with "memory limit" at their
// budget, the server's memory stays bounded, and others are served.
func TestAttackMemory(t *testing.T) {
	api, err := os.ReadFile("../examples/lua/slacker/example/api.lua")
	if err != nil {
		t.Fatal(err)
	}
	a := startTarget(t, map[string]string{
		"attack/engine.lua":       engineFile,
		"slacker/example/api.lua": string(api),
	}, "--max-call-memory", "64MiB")
	c := dial(t, a.addr, client.Config{})
	for _, tc := range []struct {
		name, fn string
		arg      any
	}{
		{"rand-ints", "slacker.example.api/rand-ints", 1_000_000_000},
		{"strings", "attack.engine/strings", 1_000_000_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a.probeDuring(t, func() {
				timed(t, 5*time.Second, tc.name, func() {
					_, err := c.Call(context.Background(), tc.fn, tc.arg)
					remoteMessage(t, err, "memory limit")
				})
			})
			a.alive(t)
		})
	}
	a.maxRSS(t, 320<<20)
}

// TestAttackMemoryServerBudget: four callers, each within its own budget,
// together pass the server's: the calls that go on allocating are stopped,
// and the server stays near its budget.
func TestAttackMemoryServerBudget(t *testing.T) {
	a := startTarget(t, map[string]string{"attack/engine.lua": engineFile},
		"--max-memory", "160MiB", "--max-call-memory", "1GiB", "--pool-size", "4")
	a.probeDuring(t, func() {
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() {
				c, err := client.Dial(context.Background(), a.addr, client.Config{})
				if err != nil {
					errs[i] = err
					return
				}
				defer c.Close()
				_, errs[i] = c.Call(context.Background(), "attack.engine/strings", 1_000_000_000)
			})
		}
		wg.Wait()
		for _, err := range errs {
			remoteMessage(t, err, "memory limit")
		}
	})
	a.alive(t)
	a.maxRSS(t, 320<<20)
}

// TestAttackConcatAndCoroutines: s = s .. s, which once grew past every
// bound inside single instructions, stops at --max-string; coroutines
// nested 300,000 deep, which never answered, stop at 200.
func TestAttackConcatAndCoroutines(t *testing.T) {
	a := startTarget(t, map[string]string{"attack/engine.lua": engineFile})
	c := dial(t, a.addr, client.Config{})
	for _, tc := range []struct {
		name, fn string
		args     []any
		want     string
	}{
		{"doubling", "attack.engine/doubling", nil, "string too large"},
		{"nest", "attack.engine/nest", []any{300000}, "C stack overflow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a.probeDuring(t, func() {
				timed(t, refuseWithin, tc.name, func() {
					_, err := c.Call(context.Background(), tc.fn, tc.args...)
					remoteMessage(t, err, tc.want)
				})
			})
			a.alive(t)
		})
	}
	a.maxRSS(t, engineRSS)
}

// TestAttackSandbox: a caller that tries to change the library or _G's
// metatable for the callers after it is refused, and they see the library
// as it was; require does not follow a link out of the served folder.
func TestAttackSandbox(t *testing.T) {
	outside := testutil.WriteFiles(t, map[string]string{"secret.lua": `return "the server's secret"`})
	a := startTarget(t, map[string]string{
		"attack/engine.lua": engineFile,
		"attack/req.lua":    `return { get = function(name) return require(name) end }`,
		"_lib/ok.lua":       `return "ok"`,
	}, "--pool-size", "1")
	testutil.Symlink(t, filepath.Join(outside, "secret.lua"), filepath.Join(a.dir, "_lib", "secret.lua"))
	c := dial(t, a.addr, client.Config{})
	for _, src := range []string{
		`string.upper = function() return "pwned" end`,
		`rawset(string, "upper", function() return "pwned" end)`,
		`getmetatable("").__index = { upper = function() return "pwned" end }`,
		`setmetatable(_G, { __index = function() return "pwned" end })`,
		`slacker.call = function() return "pwned" end`,
	} {
		_, err := c.Call(context.Background(), "attack.engine/eval", src)
		if err == nil {
			t.Fatalf("%s: no error", src)
		}
	}
	got, err := client.CallAs[string](context.Background(), c, "attack.engine/eval", `return ("still"):upper() .. tostring(undefined_global)`)
	if err != nil || got != "STILLnil" {
		t.Fatalf("after the attempts: %q, %v; want STILLnil", got, err)
	}
	_, err = c.Call(context.Background(), "attack.req/get", "secret")
	remoteMessage(t, err, "_lib/secret.lua links to a file outside the served folder")
	a.probe(t)
	a.alive(t)
	a.maxRSS(t, engineRSS)
}

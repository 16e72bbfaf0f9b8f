package engine

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/slacker-lua/slacker-lua/internal/testutil"
)

func TestOptions(t *testing.T) {
	def := Config{}.withDefaults()
	const mem = DefaultMaxCallMemory
	tests := []struct {
		name string
		src  string
		cfg  Config
		want Options
	}{
		{"defaults", `function f() end`, Config{},
			Options{PoolSize: def.PoolSize, QueueSize: 256, Timeout: 10 * time.Second, MaxMemory: mem}},
		{"config", `function f() end`, Config{PoolSize: 3, QueueSize: 5, Timeout: 2 * time.Second},
			Options{PoolSize: 3, QueueSize: 5, Timeout: 2 * time.Second, MaxMemory: mem}},
		{"global _options", `_options = { pool_size = 2, queue_size = 0, timeout = 0.25, idempotent = true }`, Config{PoolSize: 7},
			Options{PoolSize: 2, QueueSize: 0, Timeout: 250 * time.Millisecond, MaxMemory: mem, Idempotent: true}},
		{"field _options", `return { _options = { stateful = true, queue_size = 9 } }`, Config{PoolSize: 7},
			Options{PoolSize: 1, QueueSize: 9, Timeout: 10 * time.Second, MaxMemory: mem, Stateful: true}},
		{"stateful with pool_size 1", `_options = { stateful = true, pool_size = 1 }`, Config{},
			Options{PoolSize: 1, QueueSize: 256, Timeout: 10 * time.Second, MaxMemory: mem, Stateful: true}},
		{"false flags", `_options = { stateful = false, idempotent = false }`, Config{PoolSize: 2},
			Options{PoolSize: 2, QueueSize: 256, Timeout: 10 * time.Second, MaxMemory: mem}},
		{"max_memory", `_options = { max_memory = 2^20 }`, Config{PoolSize: 2, MaxCallMemory: 5 << 20},
			Options{PoolSize: 2, QueueSize: 256, Timeout: 10 * time.Second, MaxMemory: 1 << 20}},
		{"config memory", `function f() end`, Config{PoolSize: 2, MaxCallMemory: 5 << 20},
			Options{PoolSize: 2, QueueSize: 256, Timeout: 10 * time.Second, MaxMemory: 5 << 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := load(t, tt.src, tt.cfg).Options(); got != tt.want {
				t.Fatalf("options %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestOptionsErrors(t *testing.T) {
	tests := []struct {
		src string
		msg string // part of the *LoadError's message
	}{
		{`_options = { pool_size = 0 }`, "_options.pool_size"},
		{`_options = { pool_size = "2" }`, "_options.pool_size"},
		{`_options = { pool_size = 1.5 }`, "_options.pool_size"},
		{`_options = { pool_size = 100000 }`, "_options.pool_size"},
		{`_options = { queue_size = -1 }`, "_options.queue_size"},
		{`_options = { timeout = 0 }`, "_options.timeout"},
		{`_options = { timeout = "1" }`, "_options.timeout"},
		{`_options = { timeout = 1e300 }`, "_options.timeout"},
		{`_options = { stateful = 1 }`, "_options.stateful"},
		{`_options = { idempotent = "yes" }`, "_options.idempotent"},
		{`_options = { max_memory = 1000 }`, "_options.max_memory"},
		{`_options = { max_memory = "1G" }`, "_options.max_memory"},
		{`_options = { poolsize = 2 }`, `unknown key "poolsize"`},
		{`_options = { 4 }`, "unknown key 1"},
		{`_options = 5`, "want a table"},
		{`_options = { stateful = true, pool_size = 2 }`, "_options.pool_size"},
		{`_options = { pool_size = 2 }
		  return { f = function() end }`, "global _options"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			_, err := tryLoad(t, "-- options\n"+tt.src, Config{})
			le := loadError(t, err)
			if !strings.Contains(le.Msg, tt.msg) || le.Line != 2 || !strings.HasSuffix(le.Path, "ns.lua") {
				t.Fatalf("got %v, want ns.lua:2 and %q", le, tt.msg)
			}
		})
	}
}

func TestConfigValidation(t *testing.T) {
	s, err := Compile("x", "x.lua", []byte("return {}"))
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []Config{
		{PoolSize: -1}, {PoolSize: MaxPoolSize + 1}, {QueueSize: -1}, {Timeout: -time.Second},
		{MaxStringSize: -1}, {MaxDepth: -1},
	} {
		if ns, err := Load(context.Background(), s, cfg); err == nil {
			ns.Close()
			t.Errorf("Load accepted %+v", cfg)
		}
	}
	_, err = Load(context.Background(), s, Config{PoolSize: -1, Timeout: -time.Second, MaxDepth: -1})
	for _, field := range []string{"PoolSize", "Timeout", "MaxDepth"} {
		if err == nil || !strings.Contains(err.Error(), "Config."+field) {
			t.Errorf("Load of three bad fields: %v, want it to name %s", err, field)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	lib := testutil.WriteFiles(t, map[string]string{"lib/broken.lua": "local B = {}\nerror('broken module')\n"})
	tests := []struct {
		name string
		src  string
		cfg  Config
		file string // suffix of LoadError.Path
		line int
		msg  string // part of the message
	}{
		{"runtime error", "local x = nil\nlocal y = x.field\n", Config{}, "ns.lua", 2, "attempt to index"},
		{"error()", "local M = {}\n\nerror('bad config')\n", Config{}, "ns.lua", 3, "bad config"},
		{"error(table)", "error({why = 'no'})", Config{}, "ns.lua", 0, `{"why":"no"}`},
		{"error in a module", "local b = require('broken')\n", Config{LibPath: lib + "/lib"}, "broken.lua", 2, "broken module"},
		{"missing module", "\nlocal b = require('missing')\n", Config{LibPath: lib + "/lib"}, "ns.lua", 2, "module 'missing' not found"},
		{"endless loop", "local M = {}\nwhile true do end\n", Config{Timeout: 50 * time.Millisecond}, "ns.lua", 2, "loading took longer than 50ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tryLoad(t, tt.src, tt.cfg)
			le := loadError(t, err)
			if !strings.HasSuffix(le.Path, tt.file) || le.Line != tt.line || !strings.Contains(le.Msg, tt.msg) {
				t.Fatalf("got %q, want %s:%d: ...%s...", le, tt.file, tt.line, tt.msg)
			}
		})
	}
}

const behaviourLua = `local M = {}
local calls = 0
function M.count() calls = calls + 1 return calls end
function M.fail() error("kaboom") end
function M.failtable() error({code = 7}) end
function M.index() local x = nil return x.y end
function M.spin() while true do end end
function M.swallow() while true do pcall(function() while true do end end) end end
function M.started() slacker.call("started") while true do end end
function M.add(a, b) return a + b end
function M.hold() return slacker.call("hold") end
function M.echo(...) return ... end
return M
`

func TestLuaErrors(t *testing.T) {
	ns := load(t, behaviourLua, Config{PoolSize: 1})
	mustCall(t, ns, "count")
	_, err := call(t, ns, "fail")
	le := luaError(t, err)
	if le.Namespace != "ns" || le.Function != "fail" || !strings.HasSuffix(le.Message, "ns.lua:4: kaboom") {
		t.Fatalf("got %+v", le)
	}
	if le.Error() != le.Message {
		t.Fatalf("Error() = %q, want the message", le.Error())
	}
	if strings.Contains(le.Message, "traceback") {
		t.Fatalf("message has a traceback: %q", le.Message)
	}
	_, err = call(t, ns, "failtable")
	if le := luaError(t, err); le.Message != `{"code":7}` {
		t.Fatalf("failtable: %q", le.Message)
	}
	_, err = call(t, ns, "index")
	if le := luaError(t, err); !strings.Contains(le.Message, "ns.lua:6:") {
		t.Fatalf("index: %q", le.Message)
	}
	_, err = call(t, ns, "add", "x", int64(1))
	luaError(t, err)
	// A Lua error does not cost the VM its state.
	if got := mustCall(t, ns, "count"); got != int64(2) {
		t.Fatalf("count after errors = %v, want 2", got)
	}
	_, err = call(t, ns, "nope")
	if !errors.Is(err, ErrNotFound) || err.Error() != "engine: function not found: ns/nope" {
		t.Fatalf("nope: %v", err)
	}
}

func TestDeadlineStopsEndlessLoop(t *testing.T) {
	ns := load(t, behaviourLua, Config{PoolSize: 1, Timeout: 100 * time.Millisecond})
	for _, fn := range []string{"spin", "swallow"} {
		mustCall(t, ns, "count")
		start := time.Now()
		_, err := call(t, ns, fn)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: got %v, want context.DeadlineExceeded", fn, err)
		}
		var le *LuaError
		if errors.As(err, &le) {
			t.Fatalf("%s: got a LuaError %v", fn, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("%s stopped after %v", fn, d)
		}
		// The VM was replaced: the next call runs, on a fresh VM.
		if got := mustCall(t, ns, "count"); got != int64(1) {
			t.Fatalf("count after %s = %v, want 1 (a fresh VM)", fn, got)
		}
	}
	// A deadline of the caller's that is earlier than the timeout wins.
	ns = load(t, behaviourLua, Config{PoolSize: 1, Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := ns.Call(ctx, "spin", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("spin with a caller's deadline: %v", err)
	}
	if got := mustCall(t, ns, "add", int64(1), int64(2)); got != int64(3) {
		t.Fatalf("add = %v", got)
	}
}

// startedCaller signals each slacker.call("started") and returns.
type startedCaller chan struct{}

func (c startedCaller) Call(ctx context.Context, name string, args []any) (any, error) {
	c <- struct{}{}
	return nil, nil
}

func TestCancelMidCall(t *testing.T) {
	started := make(startedCaller, 1)
	ns := load(t, behaviourLua, Config{PoolSize: 1, Timeout: time.Minute, Caller: started})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := ns.Call(ctx, "started", nil)
		done <- err
	}()
	<-started
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the call was not stopped")
	}
	if got := mustCall(t, ns, "add", int64(2), int64(3)); got != int64(5) {
		t.Fatalf("add after cancel = %v", got)
	}
	// A call whose ctx is already done does not run.
	if _, err := ns.Call(ctx, "add", []any{int64(1), int64(1)}); !errors.Is(err, context.Canceled) {
		t.Fatalf("call with a done ctx: %v", err)
	}
}

// TestLoadStopsWithContext checks that a file whose top level spins stops
// loading when Load's ctx is cancelled or passes its deadline: Load
// returns an error wrapping ctx.Err(), not a *LoadError, and closes the
// VMs it made. A ctx done before Load makes no VM.
func TestLoadStopsWithContext(t *testing.T) {
	testutil.CheckGoroutines(t)
	s, err := Compile("spin", "spin.lua", []byte(`slacker.call("x/started") while true do end`))
	if err != nil {
		t.Fatal(err)
	}
	load := func(ctx context.Context, started startedCaller) ([]*lua.LState, error) {
		var states []*lua.LState
		cfg := Config{Timeout: time.Minute, Caller: started, Setup: func(L *lua.LState) { states = append(states, L) }}
		ns, err := Load(ctx, s, cfg)
		if err == nil {
			ns.Close()
		}
		return states, err
	}
	check := func(t *testing.T, states []*lua.LState, err error, want error) {
		t.Helper()
		var le *LoadError
		if !errors.Is(err, want) || errors.As(err, &le) {
			t.Fatalf("Load: %v, want an error wrapping %v", err, want)
		}
		for i, L := range states {
			if !L.IsClosed() {
				t.Errorf("VM %d is left open", i)
			}
		}
	}

	t.Run("cancelled", func(t *testing.T) {
		started := make(startedCaller, 1)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() { <-started; cancel() }()
		states, err := load(ctx, started)
		check(t, states, err, context.Canceled)
		if len(states) != 1 {
			t.Fatalf("%d VMs made, want 1", len(states))
		}
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		states, err := load(ctx, make(startedCaller, 1))
		check(t, states, err, context.DeadlineExceeded)
	})
	t.Run("done before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		states, err := load(ctx, make(startedCaller, 1))
		check(t, states, err, context.Canceled)
		if len(states) != 0 {
			t.Fatalf("%d VMs made for a ctx done before Load", len(states))
		}
	})
}

func TestCoroutinesFollowTheCallDeadline(t *testing.T) {
	ns := load(t, `
local M = {}
-- Made while loading: they would keep the load's context.
local co = coroutine.create(function() while true do end end)
local wrapped = coroutine.wrap(function() while true do end end)
function M.resume() return coroutine.resume(co) end
function M.wrapped() return wrapped() end
function M.fresh()
  local c = coroutine.wrap(function(a) local b = coroutine.yield(a + 1) return b * 2 end)
  return c(1), c(5)
end
return M
`, Config{PoolSize: 1, Timeout: 100 * time.Millisecond})
	for _, fn := range []string{"resume", "wrapped"} {
		start := time.Now()
		res, err := call(t, ns, fn)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: got %v, %v; want context.DeadlineExceeded", fn, res, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("%s stopped after %v", fn, d)
		}
	}
	if got := mustCall(t, ns, "fresh"); !reflect.DeepEqual(got, []any{int64(2), int64(10)}) {
		t.Fatalf("fresh = %#v", got)
	}
}

// panicCaller panics in Go.
type panicCaller struct{}

func (panicCaller) Call(context.Context, string, []any) (any, error) { panic("caller exploded") }

func TestGoPanicReplacesVM(t *testing.T) {
	ns := load(t, behaviourLua, Config{PoolSize: 1, Caller: panicCaller{}})
	mustCall(t, ns, "count")
	_, err := call(t, ns, "hold")
	var le *LuaError
	if err == nil || errors.As(err, &le) || !strings.Contains(err.Error(), "caller exploded") {
		t.Fatalf("got %v, want a Go panic error", err)
	}
	if got := mustCall(t, ns, "count"); got != int64(1) {
		t.Fatalf("count after a panic = %v, want 1 (a fresh VM)", got)
	}
}

func TestPoolBoundAndQueue(t *testing.T) {
	testutil.CheckGoroutines(t)
	caller := newBlockingCaller()
	ns := load(t, behaviourLua, Config{PoolSize: 2, QueueSize: 2, Caller: caller})
	results := make(chan error, 4)
	for range 4 {
		go func() {
			res, err := call(t, ns, "hold")
			if err == nil && res != "released" {
				err = fmt.Errorf("hold = %v", res)
			}
			results <- err
		}()
	}
	// Two run, two wait.
	<-caller.started
	<-caller.started
	testutil.WaitFor(t, 5*time.Second, func() bool { return ns.pending.Load() == 4 }, "4 calls pending")
	select {
	case <-caller.started:
		t.Fatal("a third call is running with a pool of 2")
	case <-time.After(20 * time.Millisecond):
	}
	// The queue is full: the next call fails at once.
	start := time.Now()
	_, err := call(t, ns, "add", int64(1), int64(2))
	if !errors.Is(err, ErrPoolFull) || time.Since(start) > time.Second {
		t.Fatalf("got %v after %v, want ErrPoolFull at once", err, time.Since(start))
	}
	if want := "engine: pool full: ns: 2 calls running, 2 waiting"; err.Error() != want {
		t.Fatalf("message %q, want %q", err, want)
	}
	// A waiting call gives up at its own deadline.
	close(caller.release)
	for range 4 {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	if got := mustCall(t, ns, "add", int64(1), int64(2)); got != int64(3) {
		t.Fatalf("add = %v", got)
	}
}

func TestWaitingRespectsContext(t *testing.T) {
	caller := newBlockingCaller()
	ns := load(t, behaviourLua, Config{PoolSize: 1, Caller: caller})
	done := make(chan error, 1)
	go func() {
		_, err := call(t, ns, "hold")
		done <- err
	}()
	<-caller.started
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := ns.Call(ctx, "add", []any{int64(1), int64(2)}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting call: %v", err)
	}
	close(caller.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestStatePerVM(t *testing.T) {
	// Two VMs, each busy with a call that counted: each counts its own calls.
	caller := newBlockingCaller()
	ns := load(t, `
local calls = 0
function hold() calls = calls + 1 slacker.call("hold") return calls end
`, Config{PoolSize: 2, Caller: caller})
	results := make(chan result, 2)
	for range 2 {
		go func() { results <- callResult(ns, "hold") }()
	}
	<-caller.started
	<-caller.started
	close(caller.release)
	if a, b := <-results, <-results; a != (result{int64(1), nil}) || b != (result{int64(1), nil}) {
		t.Fatalf("results %v and %v, want 1 from each VM", a, b)
	}
}

func TestStateful(t *testing.T) {
	caller := newBlockingCaller()
	ns := load(t, `
_options = { stateful = true }
local count = 0
function inc() count = count + 1 return count end
function hold() slacker.call("hold") return count end
`, Config{PoolSize: 8, Caller: caller})
	if o := ns.Options(); o.PoolSize != 1 || !o.Stateful {
		t.Fatalf("options %+v", o)
	}
	// Calls run one at a time: while one holds the VM, none other runs.
	held := make(chan result, 1)
	go func() { held <- callResult(ns, "hold") }()
	<-caller.started
	incs := make(chan result, 50)
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			incs <- callResult(ns, "inc")
		}()
	}
	testutil.WaitFor(t, 5*time.Second, func() bool { return ns.pending.Load() == 51 }, "the calls to queue")
	if len(incs) != 0 {
		t.Fatal("a call ran while the stateful VM was held")
	}
	close(caller.release)
	wg.Wait()
	close(incs)
	seen := make(map[any]bool)
	for r := range incs {
		if r.err != nil {
			t.Fatal(r.err)
		}
		seen[r.res] = true
	}
	if len(seen) != 50 || !seen[int64(1)] || !seen[int64(50)] {
		t.Fatalf("inc results %v, want 1..50 once each", seen)
	}
	if got := <-held; got != (result{int64(0), nil}) {
		t.Fatalf("hold = %v", got)
	}
	if got := mustCall(t, ns, "inc"); got != int64(51) {
		t.Fatalf("state lost: inc = %v", got)
	}
}

func TestConcurrentCalls(t *testing.T) {
	testutil.CheckGoroutines(t)
	ns := load(t, behaviourLua, Config{PoolSize: 4})
	var wg sync.WaitGroup
	var failures atomic.Int64
	errs := make(chan error, 64)
	for g := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				want := fmt.Sprintf("caller %d call %d", g, i)
				got, err := call(t, ns, "echo", want, int64(i))
				if err != nil || !reflect.DeepEqual(got, []any{want, int64(i)}) {
					failures.Add(1)
					errs <- fmt.Errorf("%s: got %#v, %v", want, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := ns.pending.Load(); n != 0 {
		t.Fatalf("%d calls still pending", n)
	}
}

func TestClose(t *testing.T) {
	testutil.CheckGoroutines(t)
	caller := newBlockingCaller()
	ns := load(t, behaviourLua, Config{PoolSize: 2, Caller: caller})
	mustCall(t, ns, "add", int64(1), int64(1))

	running := make(chan error, 1)
	go func() {
		res, err := call(t, ns, "hold")
		if err == nil && res != "released" {
			err = fmt.Errorf("hold = %v", res)
		}
		running <- err
	}()
	<-caller.started
	// Fill the other VM, and make a third call wait.
	go func() { call(t, ns, "hold") }()
	<-caller.started
	waiting := make(chan error, 1)
	go func() {
		_, err := call(t, ns, "add", int64(1), int64(1))
		waiting <- err
	}()
	testutil.WaitFor(t, 5*time.Second, func() bool { return ns.pending.Load() == 3 }, "a waiting call")

	ns.Close()
	ns.Close() // idempotent
	if err := <-waiting; !errors.Is(err, ErrClosed) {
		t.Fatalf("waiting call: %v, want ErrClosed", err)
	}
	if _, err := call(t, ns, "add", int64(1), int64(1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after Close: %v, want ErrClosed", err)
	}
	// Calls running finish; their VMs are closed when they end.
	close(caller.release)
	if err := <-running; err != nil {
		t.Fatalf("running call: %v", err)
	}
	testutil.WaitFor(t, 5*time.Second, func() bool { return ns.pending.Load() == 0 }, "the calls to end")
	if len(ns.slots) != 0 {
		t.Fatalf("%d VMs left in the pool after Close", len(ns.slots))
	}
}

func TestLazyVMs(t *testing.T) {
	var loads atomic.Int64
	ns := load(t, `
slacker.call("loaded")
function f() return 1 end
`, Config{PoolSize: 3, Caller: countingCaller{&loads}})
	if n := loads.Load(); n != 1 {
		t.Fatalf("%d VMs after Load, want 1", n)
	}
	mustCall(t, ns, "f")
	if n := loads.Load(); n != 1 {
		t.Fatalf("%d VMs after one call, want 1", n)
	}
	results := make(chan result, 50)
	for range 50 {
		go func() { results <- callResult(ns, "f") }()
	}
	for range 50 {
		if r := <-results; r.err != nil {
			t.Fatal(r.err)
		}
	}
	if n := loads.Load(); n > 3 {
		t.Fatalf("%d VMs made for a pool of 3", n)
	}
}

// result is what a call returned, passed from a goroutine to the test.
type result struct {
	res any
	err error
}

func callResult(ns *Namespace, fn string, args ...any) result {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := ns.Call(ctx, fn, args)
	return result{res, err}
}

type countingCaller struct{ n *atomic.Int64 }

func (c countingCaller) Call(context.Context, string, []any) (any, error) {
	c.n.Add(1)
	return nil, nil
}

func TestRecursionLimits(t *testing.T) {
	ns := load(t, `
local M = {}
function M.runaway() local function f() return f() + 1 end return f() end
function M.deep(n) local function f(k) if k == 0 then return 0 end return 1 + f(k - 1) end return f(n) end
function M.meta() local t = setmetatable({}, {__index = function(t, k) return t[k + 1] end}) return t[1] end
function M.gsub() local function f(s) return (s:gsub(".", f)) end return f("x") end
function M.unpack() local t = {} for i = 1, 300000 do t[i] = i end return select("#", unpack(t)) end
function M.ok() return "ok" end
return M
`, Config{PoolSize: 1})
	for _, tt := range []struct{ fn, msg string }{
		{"runaway", "stack overflow"},
		{"meta", "stack overflow"}, // recursion through Go functions
		{"gsub", "stack overflow"},
		{"unpack", "registry overflow"},
	} {
		_, err := call(t, ns, tt.fn)
		if le := luaError(t, err); !strings.Contains(le.Message, tt.msg) {
			t.Fatalf("%s: %q, want %q", tt.fn, le.Message, tt.msg)
		}
	}
	if got := mustCall(t, ns, "deep", int64(900)); got != int64(900) {
		t.Fatalf("deep(900) = %v", got)
	}
	_, err := call(t, ns, "deep", int64(5000))
	if le := luaError(t, err); !strings.Contains(le.Message, "stack overflow") {
		t.Fatalf("deep(5000): %q", le.Message)
	}
	if got := mustCall(t, ns, "ok"); got != "ok" {
		t.Fatalf("ok after overflows = %v", got)
	}
}

func BenchmarkCallAdd(b *testing.B) {
	ns := load(b, "function add(a, b) return a + b end", Config{})
	args := []any{int64(1), int64(2)}
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if res, err := ns.Call(ctx, "add", args); err != nil || res != int64(3) {
				b.Fatal(res, err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(1) // GOMAXPROCS goroutines, one per VM
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if res, err := ns.Call(ctx, "add", args); err != nil || res != int64(3) {
					b.Error(res, err)
					return
				}
			}
		})
	})
	// A caller's deadline earlier than the timeout is used as it is: no
	// context is made for the call.
	b.Run("caller-deadline", func(b *testing.B) {
		ns := load(b, "function add(a, b) return a + b end", Config{Timeout: time.Hour})
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		b.ReportAllocs()
		for b.Loop() {
			if res, err := ns.Call(ctx, "add", args); err != nil || res != int64(3) {
				b.Fatal(res, err)
			}
		}
	})
	b.Logf("GOMAXPROCS %d", runtime.GOMAXPROCS(0))
}

// BenchmarkLoad measures making a VM: what Load does once and a discarded
// VM's replacement costs.
func BenchmarkLoad(b *testing.B) {
	s, err := compileFile(b, "ns", exportsLua)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ns, err := Load(context.Background(), s, Config{})
		if err != nil {
			b.Fatal(err)
		}
		ns.Close()
	}
}

// TestSetup checks Config.Setup: its globals are there while the file
// loads and in calls, are not exported, and a value it makes in the VM's
// state can be passed to a function as is.
func TestSetup(t *testing.T) {
	var state *lua.LState
	cfg := Config{PoolSize: 1, Setup: func(L *lua.LState) {
		state = L
		L.SetGlobal("helper", L.NewFunction(func(L *lua.LState) int {
			L.Push(lua.LString("help " + L.CheckString(1)))
			return 1
		}))
	}}
	ns := load(t, `local at_load = helper("load")
function f(x) return at_load .. ", " .. helper(x) end
function g(tbl) return tbl.name end`, cfg)
	if got := mustCall(t, ns, "f", "call"); got != "help load, help call" {
		t.Errorf("f = %#v", got)
	}
	for _, fi := range ns.Functions() {
		if fi.Name == "helper" {
			t.Error("helper is exported")
		}
	}
	tbl := state.NewTable()
	tbl.RawSetString("name", lua.LString("made in Go"))
	if got := mustCall(t, ns, "g", tbl); got != "made in Go" {
		t.Errorf("g = %#v", got)
	}
}
